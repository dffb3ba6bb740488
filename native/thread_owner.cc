#include "thread_owner.h"

namespace uring_udp {

std::shared_ptr<Watched> WatchThread(Napi::Env env, const char* owner, uint32_t id, std::shared_ptr<ThreadObservation> observation,
                                     std::shared_ptr<DeadlineTable> deadlines, uint32_t stuck_ms, uint32_t starved_ms) {
  auto watched = std::make_shared<Watched>();
  watched->owner = owner;
  watched->owner_id = id;
  watched->observation = std::move(observation);
  watched->deadlines = std::move(deadlines);
  watched->channel = ChannelFor(env);
  Watchdog& watchdog = Watchdog::Instance();
  watched->thresholds.stuck_ns.store(stuck_ms ? stuck_ms * 1000000LL : watchdog.default_stuck_ns());
  watched->thresholds.starved_ns.store(starved_ms ? starved_ms * 1000000LL : watchdog.default_starved_ns());
  watchdog.Register(watched);
  return watched;
}

void Unwatch(std::shared_ptr<Watched>* watched) {
  if (!*watched) return;
  Watchdog::Instance().Unregister(*watched);
  watched->reset();
}

}  // namespace uring_udp
