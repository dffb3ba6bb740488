// The receivers' common part (commands, the states a socket goes through on a receiver), the
// pool that starts and stops them, and EnvLink, which carries their events to JS threads.
#include <sched.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <thread>

#include "common.h"
#include "errors.h"
#include "receiver.h"
#include "thread_owner.h"
#include "udp_wrap.h"

namespace uring_udp {

namespace {
// A socket on a receiver whose traffic brought at most one datagram per turn for this long is
// handed back to its JS thread (request/response traffic is cheaper read there: one thread hop
// per datagram instead of two) ...
constexpr int64_t kHandBackQuietNs = 50LL * 1000000;
// ... and one handed back that stayed there this long lets its buffers go and leaves.
constexpr int64_t kReleaseIdleNs = 1000LL * 1000000;
// A socket quiet this long on a receiver gives back memory a flood made resident: pooled arenas,
// and the pages big datagrams touched in its buffers and scratch space.
constexpr int64_t kQuietTrimNs = 1000LL * 1000000;
constexpr uint32_t kSmallDatagram = 2048;
constexpr uint64_t kMaxWaitUs = 500 * 1000;
constexpr int kStopWaitMs = 3000;
// Receivers of a kind beyond `threads`, started only when every one is full.
constexpr unsigned kExtraFactor = 4;
}  // namespace

// ---- EnvLink ------------------------------------------------------------------------------------

std::shared_ptr<EnvLink> EnvLink::For(Napi::Env env) {
  EnvData* data = EnvDataFor(env);
  if (data->receivers) return data->receivers;
  auto link = std::make_shared<EnvLink>(data->channel);
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) throw Napi::Error::New(env, "no event loop");
  if (const int err = link->waker_.Init(loop, OnWake, link.get()); err != 0) throw ErrnoError(env, -err, "uv_async_init");
  link->waker_.Unref();  // until a socket on a receiver needs the loop kept alive (Ref)
  link->open_ = true;
  napi_add_env_cleanup_hook(env, OnCleanup, link.get());
  data->receivers = link;
  return link;
}

EnvLink::~EnvLink() = default;

void EnvLink::OnCleanup(void* arg) {
  EnvLink* link = static_cast<EnvLink*>(arg);
  {
    std::lock_guard<std::mutex> lock(link->mutex_);
    link->open_ = false;
    link->ready_.clear();
  }
  link->waker_.Close();
}

void EnvLink::Ready(std::shared_ptr<SocketReceive> socket) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_) return;
    ready_.push_back(std::move(socket));
  }
  waker_.Wake();
}

void EnvLink::OnWake(void* arg) {
  EnvLink* link = static_cast<EnvLink*>(arg);
  std::vector<std::shared_ptr<SocketReceive>> ready;
  {
    std::lock_guard<std::mutex> lock(link->mutex_);
    ready.swap(link->ready_);
  }
  // Each socket's owner is looked up afresh: a callback may close (or drop) any socket.
  for (const std::shared_ptr<SocketReceive>& socket : ready)
    if (socket->owner) socket->owner->OnReceiverEvents(socket.get());
}

void EnvLink::Ref() {
  if (refs_++ == 0) waker_.Ref();
}

void EnvLink::Unref() {
  if (--refs_ == 0) waker_.Unref();
}

// ---- Receiver -----------------------------------------------------------------------------------

Receiver::Receiver(const char* name, ReceiverKind kind_in, uint32_t id_in, std::shared_ptr<ThreadObservation> observation)
    : RingThread(name, std::move(observation)), kind(kind_in), id(id_in) {}

Receiver::~Receiver() {
  LetGo();
  if (!Exited()) return;  // a detached thread may still use what follows
  if (wake_fd_ >= 0) close(wake_fd_);
}

int Receiver::OpenWake(std::string* failed) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    *failed = "eventfd";
    return -errno;
  }
  return 0;
}

void Receiver::Wake() {
  uint64_t one = 1;
  ssize_t written = write(wake_fd_, &one, sizeof(one));
  (void)written;
}

void Receiver::DrainWake() {
  uint64_t value;
  ssize_t got = read(wake_fd_, &value, sizeof(value));
  (void)got;
}

void Receiver::Send(Command command) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back(std::move(command));
  }
  Wake();
}

void Receiver::RequestStop() {
  stop_.store(true, std::memory_order_release);
  Wake();
}

void Receiver::RunCommands() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (commands_.empty()) return;
    running_.swap(commands_);
  }
  for (Command& command : running_) {
    SocketReceive& s = *command.socket;
    const bool ours = s.served.state != SocketReceive::Served::kNone && s.served.slot < slots_.size() &&
                      slots_[s.served.slot] == command.socket;
    switch (command.op) {
      case Op::kAttach:
        if (!ours && !s.abandoned.load(std::memory_order_acquire)) Attach(command.socket);
        break;
      case Op::kArm:
        if (ours) Arm(s);
        break;
      case Op::kDetach:
        if (ours) {
          Leave(s, command.closing);
        } else if (command.closing) {
          // Already let go (its "detached" is on its way): the close has nothing to wait for.
          RecvEvents events;
          events.stopped = true;
          s.Post(events);
        }
        break;
      case Op::kTestDisarm:
        if (ours && s.served.state == SocketReceive::Served::kArmed) {
          s.served.disarmed = true;
          CancelSocket(s);
        }
        break;
      case Op::kTestHold:
        TestHold(command.ms);
        break;
    }
  }
  running_.clear();
}

// Test-only: holds this thread in a real blocking syscall, in state D, as the known kernel bugs
// do (vfork suspends the parent uninterruptibly until the child exits; the child only sleeps).
void Receiver::TestHold(uint32_t ms) {
  EnterBegin();
  const pid_t child = vfork();
  if (child == 0) {
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(ms / 1000);
    ts.tv_nsec = static_cast<long>(ms % 1000) * 1000000;
    nanosleep(&ts, nullptr);
    _exit(0);
  }
  if (child > 0) waitpid(child, nullptr, 0);
  EnterEnd();
}

void Receiver::Attach(const std::shared_ptr<SocketReceive>& socket) {
  SocketReceive& s = *socket;
  uint32_t slot = 0;
  while (slot < slots_.size() && slots_[slot]) slot++;
  if (slot == slots_.size()) slots_.emplace_back();
  slots_[slot] = socket;
  live_++;
  SocketReceive::ServedState& st = s.served;
  st.slot = slot;
  st.state = SocketReceive::Served::kWarming;
  st.closing = false;
  std::string failed;
  const int result = AttachSocket(s, &failed);
  if (result < 0) {
    st.state = SocketReceive::Served::kNone;
    slots_[slot].reset();
    live_--;
    RecvEvents events;
    events.detached = true;
    events.attach_error = -result;
    socket->Post(events);
    return;
  }
  s.budget->SetWaker([this] { Wake(); });
  st.state = SocketReceive::Served::kIdle;
  st.idle_since_ns = MonotonicNs();
  st.turn_start = st.counters[kRecvDatagrams];
  st.counters[kRecvAttaches]++;
  s.PublishStats();
  s.warm.store(true, std::memory_order_release);
}

void Receiver::Arm(SocketReceive& s) {
  SocketReceive::ServedState& st = s.served;
  if (st.state != SocketReceive::Served::kIdle) return;  // leaving: its "detached" is on its way
  const int64_t now = MonotonicNs();
  st.state = SocketReceive::Served::kArmed;
  st.counters[kRecvHandovers]++;
  st.last_busy_ns = now;
  st.quiet_since_ns = 0;
  s.watch->last_cqe_ns.store(now, std::memory_order_relaxed);
  s.watch->expected.store(true, std::memory_order_release);
  if (!st.armed) ArmSocket(s);
}

void Receiver::Leave(SocketReceive& s, bool closing) {
  SocketReceive::ServedState& st = s.served;
  st.closing = st.closing || closing;
  st.state = SocketReceive::Served::kLeaving;
  s.watch->expected.store(false, std::memory_order_release);
  if (st.armed) CancelSocket(s);
}

bool Receiver::AnyHolding() const {
  for (const std::shared_ptr<SocketReceive>& socket : slots_)
    if (socket && socket->served.batch) return true;
  return false;
}

// The longest wait: short while a batch is held back for a busy JS thread (it goes as soon as
// JS has taken the ones before it), else the bound on a wait inside the kernel.
uint64_t Receiver::WaitTimeoutUs() const {
  uint64_t timeout = kMaxWaitUs;
  for (const std::shared_ptr<SocketReceive>& socket : slots_)
    if (socket && socket->served.batch)
      timeout = std::min<uint64_t>(timeout, std::max<uint64_t>(socket->config.batch_delay_us, 100));
  return timeout;
}

// The end of a turn of the loop, for every socket on the receiver: hand-back and quiet trims,
// the moves a socket's state waits for, and its batch to JS (or held for a busy JS).
void Receiver::EndTurn(int64_t now) {
  // Whether the receiver's turns carry more than a datagram each, all its sockets together, over
  // the last window: one serving many sockets amortises its turns (and its wake-ups of JS, which
  // an environment takes for all its sockets at once) even when each socket has a datagram a turn.
  // This turn's datagrams count towards the window after the sockets' own moves (it is 50 ms
  // long: a turn later changes nothing), so the sockets are walked once.
  uint64_t turn_total = 0;
  for (size_t i = 0; i < slots_.size(); i++) {
    SocketReceive* raw = slots_[i].get();
    if (!raw) continue;
    SocketReceive& s = *raw;
    SocketReceive::ServedState& st = s.served;
    // A socket that may be let go this turn (Advance's Finish, for an idle or leaving one) is
    // held here: Finish frees its slot, and with it what may be the last reference. The others
    // are not copied: a shared_ptr's count is an atomic, and its cache line the JS thread's too
    // — per socket and turn, on a busy ring.
    const bool abandoned = s.abandoned.load(std::memory_order_acquire);
    std::shared_ptr<SocketReceive> keep;
    if (abandoned || st.state == SocketReceive::Served::kIdle || st.state == SocketReceive::Served::kLeaving)
      keep = slots_[i];
    // Its JS thread left it for good (this receiver was reported stuck): let it go now, as a
    // close does — what it had taken, parked completions included, goes to JS with the rest.
    if (abandoned && st.state != SocketReceive::Served::kLeaving) Leave(s, true);
    const uint64_t got = st.counters[kRecvDatagrams] - st.turn_start;
    turn_total += got;
    if (st.state == SocketReceive::Served::kArmed) {
      if (got > 0) st.counters[kRecvEnters]++;
      if (got > 1 || (got == 1 && !sparse_) || st.budget_full || s.JsBehind()) {
        st.last_busy_ns = now;
      } else if (s.config.hybrid && !st.disarmed && now - st.last_busy_ns > kHandBackQuietNs) {
        // Sparse traffic (request/response on a receiver with little else to do, or none): the JS
        // thread reads it from now on. The request is cancelled first and its last datagrams go
        // out before JS is told, so two readers never overlap.
        st.state = SocketReceive::Served::kHandingBack;
        s.watch->expected.store(false, std::memory_order_release);
        if (st.armed) CancelSocket(s);
      }
      if (st.state == SocketReceive::Served::kArmed) TrimWhenQuiet(s, now);
    }
    Advance(s, now);
    if (st.state == SocketReceive::Served::kNone) continue;  // let go
    s.FlushOrHold(false);
    st.turn_start = st.counters[kRecvDatagrams];
    if (got || st.touched) s.PublishStats();
    st.touched = false;
  }
  last_turn_datagrams_ = turn_total;
  if (turn_total) {
    window_turns_++;
    window_datagrams_ += turn_total;
  }
  if (now - window_start_ns_ > kHandBackQuietNs) {
    sparse_ = window_datagrams_ <= window_turns_;
    window_start_ns_ = now;
    window_turns_ = 0;
    window_datagrams_ = 0;
  }
  PublishRingStats();
}

void Receiver::Advance(SocketReceive& s, int64_t now) {
  SocketReceive::ServedState& st = s.served;
  switch (st.state) {
    case SocketReceive::Served::kArmed:
      if (st.trimming && !st.armed) {
        TrimSocket(s);
        st.largest_since_trim = 0;
        st.trimming = false;
      }
      if (!st.armed && !st.disarmed && !st.budget_full && st.parked.empty() && !st.drain_pending) ArmSocket(s);
      break;
    case SocketReceive::Served::kHandingBack:
      if (st.armed || !st.parked.empty()) break;
      s.Flush();
      st.state = SocketReceive::Served::kIdle;
      st.idle_since_ns = now;
      {
        RecvEvents events;
        events.handoff = true;
        s.Post(events);
      }
      break;
    case SocketReceive::Served::kIdle:
      if (now - st.idle_since_ns > kReleaseIdleNs) Finish(s);
      break;
    case SocketReceive::Served::kLeaving:
      if (!st.parked.empty()) ResumeSocket(s);  // closing: delivered (or dropped) with the rest
      if (!st.armed && st.parked.empty()) Finish(s);
      break;
    default:
      break;
  }
}

// The socket leaves: what it received goes to JS, its buffers are freed, and JS is told
// ("stopped" for a close, "detached" otherwise). The receiver touches it no more.
void Receiver::Finish(SocketReceive& s) {
  SocketReceive::ServedState& st = s.served;
  s.Flush();
  st.parked.clear();
  FreeSocket(s);
  s.budget->SetWaker(nullptr);
  s.budget->CancelWake();
  s.watch->expected.store(false, std::memory_order_release);
  s.watch->backpressured.store(false, std::memory_order_release);
  st.budget_full = false;
  st.drain_pending = false;
  st.disarmed = false;
  st.trimming = false;
  s.arenas->Clear();  // its free arenas; those JS holds live on until settled
  s.warm.store(false, std::memory_order_release);
  s.PublishStats();
  const bool closing = st.closing;
  st.state = SocketReceive::Served::kNone;
  st.closing = false;
  std::shared_ptr<SocketReceive> keep = std::move(slots_[st.slot]);
  live_--;
  RecvEvents events;
  if (closing) events.stopped = true;
  else events.detached = true;
  keep->Post(events);
}

// Once around the loop for a socket the receiver reads: one that has received nothing for
// kQuietTrimNs gives back what a flood made resident — its spare arenas, and the pages that
// datagrams bigger than kSmallDatagram touched in its buffers and scratch — once per quiet spell.
void Receiver::TrimWhenQuiet(SocketReceive& s, int64_t now) {
  SocketReceive::ServedState& st = s.served;
  const uint64_t datagrams = st.counters[kRecvDatagrams] + s.arenas->takes();
  if (datagrams != st.quiet_seen) {
    st.quiet_seen = datagrams;
    st.quiet_since_ns = 0;
    return;
  }
  if (st.trimming) return;
  if (st.quiet_since_ns == 0) st.quiet_since_ns = now;
  if (now - st.quiet_since_ns <= kQuietTrimNs) return;
  st.quiet_since_ns = now;
  s.arenas->Clear();
  if (st.largest_since_trim <= kSmallDatagram) return;
  if (st.armed) {
    // The kernel may write into any buffer while a receive is armed: cancel it first, trim
    // when its last completion is in (Advance), re-arm after.
    st.trimming = true;
    CancelSocket(s);
    return;
  }
  TrimSocket(s);
  st.largest_since_trim = 0;
}

// ---- the pool -----------------------------------------------------------------------------------

ReceiverPool& ReceiverPool::Instance() {
  // Never destroyed: receivers may outlive every environment (one stuck in the kernel).
  static ReceiverPool* pool = new ReceiverPool();
  return *pool;
}

namespace {

unsigned Cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<unsigned>(count);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// What a socket may leave in its receiver's CQ at most: a completion per provided buffer, and
// a few for its requests' ends and cancels. A ring whose sockets' sum fits its CQ cannot overflow.
uint64_t CqCost(const RecvConfig& config) {
  if (config.backend != RecvBackend::kMultishotRecvmsg) return 4;
  uint64_t entries = 1;
  while (entries < config.buffer_count) entries <<= 1;
  return entries + 4;
}

}  // namespace

void ReceiverPool::Configure(unsigned threads) {
  std::lock_guard<std::mutex> lock(mutex_);
  threads_ = threads;
}

unsigned ReceiverPool::threads() {
  std::lock_guard<std::mutex> lock(mutex_);
  return threads_ ? threads_ : Cores();
}

ReceiverPool::Info ReceiverPool::info() {
  std::lock_guard<std::mutex> lock(mutex_);
  Info info;
  info.receivers = static_cast<unsigned>(receivers_.size());
  for (const auto& receiver : receivers_) info.sockets += receiver->sockets;
  info.threads = threads_ ? threads_ : Cores();
  return info;
}

std::shared_ptr<Receiver> ReceiverPool::Start(ReceiverKind kind, const RecvConfig& config, int* error, std::string* syscall) {
  auto observation = std::make_shared<ThreadObservation>();
  std::shared_ptr<Receiver> receiver;
  const uint32_t id = next_id_++;
  if (kind == ReceiverKind::kRing) {
    receiver = std::make_shared<ReceiverRing>(id, config.cq_entries, config.busy_wait, observation);
  } else {
    receiver = std::make_shared<PlainReceiver>(id, observation);
  }
  std::string failed;
  const int result = receiver->Start(&failed);
  if (result < 0) {
    *error = -result;
    *syscall = failed;
    return nullptr;
  }
  if (kind == ReceiverKind::kRing) {
    const unsigned cq = static_cast<ReceiverRing*>(receiver.get())->cq_size();
    receiver->capacity = cq > 8 ? cq - 8 : 0;  // the wake-up poll and slack
  }
  auto watched = std::make_shared<Watched>();
  watched->owner = "receiver";
  watched->owner_id = id;
  watched->observation = observation;
  watched->members = receiver->members;
  receiver->watched = watched;  // registered with the watchdog while a socket on it is watched
  return receiver;
}

std::shared_ptr<Receiver> ReceiverPool::Acquire(const std::shared_ptr<SocketReceive>& socket, uint32_t socket_id, bool watch,
                                                uint32_t stuck_ms, uint32_t starved_ms, int* error, std::string* syscall) {
  const RecvConfig& config = socket->config;
  const ReceiverKind kind = config.backend == RecvBackend::kRecvmmsg ? ReceiverKind::kPlain : ReceiverKind::kRing;
  const uint64_t cost = CqCost(config);
  std::shared_ptr<Receiver> chosen;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (config.cq_entries != 0) {
      // The reproducer's ring is its own.
      chosen = Start(kind, config, error, syscall);
      if (!chosen) return nullptr;
      chosen->shared = false;
      receivers_.push_back(chosen);
    } else {
      const unsigned limit = threads_ ? threads_ : Cores();
      unsigned of_kind = 0;
      std::shared_ptr<Receiver> best;
      bool idle_one = false;
      JoinRecovered();
      for (const std::shared_ptr<Receiver>& receiver : receivers_) {
        if (receiver->kind != kind || !receiver->shared || receiver->failed) continue;
        of_kind++;
        if (receiver->load + cost > receiver->capacity) continue;
        if (receiver->sockets == 0) idle_one = true;
        if (!best || receiver->sockets < best->sockets) best = receiver;
      }
      // Busy sockets spread over up to `limit` receivers first (each a core's worth of work),
      // then share them; more start only when every one is full.
      const bool start = (of_kind < limit && !idle_one) || (!best && of_kind < limit * kExtraFactor);
      if (start) {
        chosen = Start(kind, config, error, syscall);
        if (!chosen && !best) return nullptr;
        if (chosen) receivers_.push_back(chosen);
      }
      if (!chosen) chosen = best;
      if (!chosen) {
        *error = EAGAIN;
        *syscall = "receiver";  // every receiver is full
        return nullptr;
      }
    }
    chosen->sockets++;
    chosen->load += cost;
    if (watch) {
      auto member = std::make_shared<WatchMember>();
      member->socket_id = socket_id;
      member->channel = socket->env->channel;
      member->watch = socket->watch;
      member->starved_ns = static_cast<int64_t>(starved_ms) * 1000000;
      member->stuck_ns = static_cast<int64_t>(stuck_ms) * 1000000;
      chosen->members->Add(std::move(member));
      chosen->watched->thresholds.stuck_ns.store(chosen->members->StuckNs(), std::memory_order_relaxed);
      // The watchdog observes a receiver while one of its sockets asks it to (watchdog: false
      // leaves a socket, and a receiver of only such sockets, unobserved).
      if (chosen->watching++ == 0) Watchdog::Instance().Register(chosen->watched);
    }
  }
  return chosen;
}

// Under mutex_: the socket's share and watch leave the receiver.
void ReceiverPool::Leave(const std::shared_ptr<Receiver>& receiver, const SocketReceive& socket) {
  if (receiver->members->Remove(socket.watch)) {
    receiver->watched->thresholds.stuck_ns.store(receiver->members->StuckNs(), std::memory_order_relaxed);
    if (--receiver->watching == 0) Watchdog::Instance().Unregister(receiver->watched);
  }
  receiver->sockets--;
  receiver->load -= CqCost(socket.config);
}

// Under mutex_: receivers left stuck that have come back and exited since are joined now.
void ReceiverPool::JoinRecovered() {
  for (auto it = abandoned_.begin(); it != abandoned_.end();) {
    if ((*it)->Exited()) {
      (*it)->Join();
      it = abandoned_.erase(it);
    } else {
      ++it;
    }
  }
}

void ReceiverPool::Abandon(const std::shared_ptr<Receiver>& receiver, const SocketReceive& socket) {
  std::lock_guard<std::mutex> lock(mutex_);
  receiver->failed = true;
  Leave(receiver, socket);
  if (receiver->sockets != 0) return;
  receivers_.erase(std::remove(receivers_.begin(), receivers_.end(), receiver), receivers_.end());
  // Should it ever come back, it lets its abandoned sockets go and exits.
  receiver->RequestStop();
  abandoned_.push_back(receiver);
  JoinRecovered();
}

void ReceiverPool::Release(const std::shared_ptr<Receiver>& receiver, const SocketReceive& socket) {
  std::shared_ptr<Receiver> stop;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Leave(receiver, socket);
    if (receiver->sockets == 0) {
      receivers_.erase(std::remove(receivers_.begin(), receivers_.end(), receiver), receivers_.end());
      stop = receiver;
    }
    JoinRecovered();
  }
  if (!stop) return;
  // Its last socket left: the thread exits at once (its eventfd wakes it), and is joined here —
  // unless it is stuck in the kernel, when it is left, and what it uses with it.
  stop->RequestStop();
  JoinOrLeave(*stop, stop, kStopWaitMs, "receiver");
}

// ---- Node-API -----------------------------------------------------------------------------------

// configureReceivers(threads): receivers started per kind before busy sockets share them (0:
// as many as the cores this process may run on). Receivers already running are kept.
Napi::Value ConfigureReceivers(const Napi::CallbackInfo& info) {
  const uint32_t threads = ArgUint32(info, 0, "threads");
  if (threads > 1024) throw Napi::RangeError::New(info.Env(), "threads out of range");
  ReceiverPool::Instance().Configure(threads);
  return info.Env().Undefined();
}

Napi::Value ReceiverInfo(const Napi::CallbackInfo& info) {
  const ReceiverPool::Info pool = ReceiverPool::Instance().info();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("receivers", Napi::Number::New(info.Env(), pool.receivers));
  out.Set("sockets", Napi::Number::New(info.Env(), pool.sockets));
  out.Set("threads", Napi::Number::New(info.Env(), pool.threads));
  return out;
}

}  // namespace uring_udp
