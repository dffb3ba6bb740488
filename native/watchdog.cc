#include "watchdog.h"

#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common.h"
#include "proc.h"

namespace uring_udp {

namespace {

// /proc reads (thread state, and the fds the starvation check polls) happen this often; the
// deadline and in-kernel checks run every interval.
constexpr int64_t kSampleNs = 100LL * 1000000;
// At most one overflow report per ring per second: a flood would otherwise be a report flood.
constexpr int64_t kOverflowReportNs = 1000LL * 1000000;

// Raw Node-API with every status checked: this runs in a thread-safe function callback,
// where a C++ exception would terminate the process. false = give up on this report.
class ObjectBuilder {
 public:
  ObjectBuilder(napi_env env) : env_(env) { ok_ = napi_create_object(env, &object_) == napi_ok; }
  ObjectBuilder& Number(const char* key, double value) {
    napi_value v;
    if (ok_) ok_ = napi_create_double(env_, value, &v) == napi_ok && napi_set_named_property(env_, object_, key, v) == napi_ok;
    return *this;
  }
  ObjectBuilder& String(const char* key, const std::string& value) {
    napi_value v;
    if (ok_) ok_ = napi_create_string_utf8(env_, value.data(), value.size(), &v) == napi_ok &&
                   napi_set_named_property(env_, object_, key, v) == napi_ok;
    return *this;
  }
  ObjectBuilder& Bool(const char* key, bool value) {
    napi_value v;
    if (ok_) ok_ = napi_get_boolean(env_, value, &v) == napi_ok && napi_set_named_property(env_, object_, key, v) == napi_ok;
    return *this;
  }
  ObjectBuilder& Value(const char* key, napi_value value, bool ok) {
    if (ok_) ok_ = ok && napi_set_named_property(env_, object_, key, value) == napi_ok;
    return *this;
  }
  bool ok() const { return ok_; }
  napi_value value() const { return object_; }

 private:
  napi_env env_;
  napi_value object_ = nullptr;
  bool ok_ = false;
};

bool ReportObject(napi_env env, const StallReport& report, napi_value* out) {
  ObjectBuilder thread(env);
  thread.Number("tid", report.tid)
      .String("state", report.state)
      .String("wchan", report.wchan)
      .String("syscall", report.syscall)
      .String("stack", report.stack)
      .Bool("inKernel", report.in_kernel);
  napi_value fdinfo;
  bool fdinfo_ok = napi_create_array_with_length(env, report.fdinfo.size(), &fdinfo) == napi_ok;
  for (size_t i = 0; fdinfo_ok && i < report.fdinfo.size(); i++) {
    napi_value line;
    fdinfo_ok = napi_create_string_utf8(env, report.fdinfo[i].data(), report.fdinfo[i].size(), &line) == napi_ok &&
                napi_set_element(env, fdinfo, static_cast<uint32_t>(i), line) == napi_ok;
  }
  ObjectBuilder ring(env);
  ring.Number("sqHead", report.sq_head)
      .Number("sqTail", report.sq_tail)
      .Number("cqHead", report.cq_head)
      .Number("cqTail", report.cq_tail)
      .Number("cqOverflow", static_cast<double>(report.cq_overflow))
      .Number("overflowFlagSeen", static_cast<double>(report.overflow_flag_seen))
      .Value("fdinfo", fdinfo, fdinfo_ok);
  napi_value sockets;
  bool sockets_ok = napi_create_array_with_length(env, report.sockets.size(), &sockets) == napi_ok;
  for (size_t i = 0; sockets_ok && i < report.sockets.size(); i++) {
    napi_value id;
    sockets_ok = napi_create_uint32(env, report.sockets[i], &id) == napi_ok &&
                 napi_set_element(env, sockets, static_cast<uint32_t>(i), id) == napi_ok;
  }
  ObjectBuilder object(env);
  object.String("kind", report.kind);
  if (!report.recovered.empty()) object.String("recovered", report.recovered);
  object.String("owner", report.owner)
      .Number("id", report.owner_id)
      .Number("fd", report.fd)
      .Number("opcode", report.opcode)
      .Number("requestId", report.request_id)
      .Number("ageMs", report.age_ms)
      .Value("sockets", sockets, sockets_ok)
      .Value("thread", thread.value(), thread.ok())
      .Value("ring", ring.value(), ring.ok());
  *out = object.value();
  return object.ok();
}


void CloseChannel(void* arg) { static_cast<WatchdogChannel*>(arg)->Close(); }

}  // namespace

// ---- channel ------------------------------------------------------------------------------

bool WatchdogChannel::Open(Napi::Env env, Napi::Function handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_) return false;
  function_ = Function::New(env, handler, "uring-udp watchdog", 0, 1, this);
  napi_unref_threadsafe_function(env, function_);  // reports never keep a process alive on their own
  open_ = true;
  return true;
}

void WatchdogChannel::Post(StallReport report) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!open_) return;
  pending_.push_back(std::move(report));
  if (!notify_pending_) {
    notify_pending_ = true;
    function_.NonBlockingCall();
  }
}

void WatchdogChannel::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!open_) return;
  open_ = false;
  pending_.clear();
  function_.Abort();
}

void WatchdogChannel::Ref(Napi::Env env) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_) napi_ref_threadsafe_function(env, function_);
}

void WatchdogChannel::Unref(Napi::Env env) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_) napi_unref_threadsafe_function(env, function_);
}

void WatchdogChannel::CallJs(Napi::Env env, Napi::Function callback, WatchdogChannel* channel, void*) {
  if (env == nullptr || callback.IsEmpty() || channel == nullptr) return;
  std::vector<StallReport> reports;
  {
    std::lock_guard<std::mutex> lock(channel->mutex_);
    reports.swap(channel->pending_);
    channel->notify_pending_ = false;
  }
  if (reports.empty()) return;
  napi_value list;
  if (napi_create_array_with_length(env, reports.size(), &list) != napi_ok) return;
  for (size_t i = 0; i < reports.size(); i++) {
    napi_value object;
    // Failure here means the environment is shutting down (JS can no longer run).
    if (!ReportObject(env, reports[i], &object)) return;
    if (napi_set_element(env, list, static_cast<uint32_t>(i), object) != napi_ok) return;
  }
  napi_value global;
  if (napi_get_global(env, &global) != napi_ok) return;
  napi_call_function(env, global, callback, 1, &list, nullptr);
}

EnvData* EnvDataFor(Napi::Env env) {
  EnvData* data = env.GetInstanceData<EnvData>();
  if (!data) {
    data = new EnvData();
    data->channel = std::make_shared<WatchdogChannel>();
    env.SetInstanceData<EnvData>(data);
  }
  return data;
}

std::shared_ptr<WatchdogChannel> ChannelFor(Napi::Env env) { return EnvDataFor(env)->channel; }

// ---- receivers' members -------------------------------------------------------------------

void WatchMembers::Add(std::shared_ptr<WatchMember> member) {
  std::lock_guard<std::mutex> lock(mutex);
  list.push_back(std::move(member));
}

bool WatchMembers::Remove(const std::shared_ptr<RecvWatch>& watch) {
  std::lock_guard<std::mutex> lock(mutex);
  const size_t before = list.size();
  list.erase(std::remove_if(list.begin(), list.end(), [&](const auto& member) { return member->watch == watch; }), list.end());
  return list.size() != before;
}

int64_t WatchMembers::StuckNs() {
  std::lock_guard<std::mutex> lock(mutex);
  int64_t strictest = 0;
  for (const auto& member : list)
    if (member->stuck_ns > 0 && (strictest == 0 || member->stuck_ns < strictest)) strictest = member->stuck_ns;
  return strictest;
}

// ---- the watchdog thread ------------------------------------------------------------------

Watchdog& Watchdog::Instance() {
  // Never destroyed: it may still be referenced while the process exits.
  static Watchdog* instance = new Watchdog();
  return *instance;
}

void Watchdog::Register(const std::shared_ptr<Watched>& watched) {
  std::lock_guard<std::mutex> lock(mutex_);
  watched_.push_back(watched);
  if (!thread_.joinable()) {
    stop_ = false;
    thread_ = std::thread([this] { Run(); });
  }
}

void Watchdog::Unregister(const std::shared_ptr<Watched>& watched) {
  std::thread finished;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    watched_.erase(std::remove(watched_.begin(), watched_.end(), watched), watched_.end());
    if (!watched_.empty() || !thread_.joinable()) return;
    // Nothing left to watch: stop the thread and join it (it never blocks for long).
    stop_ = true;
    finished = std::move(thread_);
  }
  wake_.notify_all();
  finished.join();
}

unsigned Watchdog::watched_count() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<unsigned>(watched_.size());
}

void Watchdog::SetDefaults(int64_t stuck_ns, int64_t starved_ns, int64_t interval_ns) {
  if (stuck_ns > 0) default_stuck_ns_.store(stuck_ns);
  if (starved_ns > 0) default_starved_ns_.store(starved_ns);
  if (interval_ns > 0) interval_ns_.store(interval_ns);
}

void Watchdog::Run() {
  // Named for ps -L, gdb and /proc/PID/task/TID/comm (the benchmark finds the watchdog by it).
  pthread_setname_np(pthread_self(), "uring-watchdog");
  std::vector<std::shared_ptr<Watched>> snapshot;
  bool fine = true;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const int64_t interval = interval_ns_.load();
      fine_ticks_.store(fine, std::memory_order_relaxed);
      wake_.wait_for(lock, std::chrono::nanoseconds(fine ? interval : std::max(interval, kSampleNs)),
                     [this] { return stop_ || deadline_armed_; });
      if (stop_) return;
      deadline_armed_ = false;
      snapshot = watched_;
    }
    const int64_t now = MonotonicNs();
    fine = false;
    for (const std::shared_ptr<Watched>& watched : snapshot) fine = Check(*watched, now) || fine;
    snapshot.clear();
  }
}

void Watchdog::DeadlineArmed() {
  if (fine_ticks_.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    deadline_armed_ = true;
    fine_ticks_.store(true, std::memory_order_relaxed);
  }
  wake_.notify_all();
}

bool Watchdog::Check(Watched& watched, int64_t now) {
  if (!watched.observation->running.load(std::memory_order_acquire)) return false;
  const bool sample = now >= watched.next_proc_sample_ns;
  if (sample) watched.next_proc_sample_ns = now + kSampleNs;
  CheckThread(watched, now, sample);
  const bool timed = watched.deadlines ? CheckDeadlines(watched, now, sample) : false;
  if (sample && watched.members) CheckMembers(watched, now);
  CheckOverflow(watched, now);
  return timed;
}

void Watchdog::CheckThread(Watched& watched, int64_t now, bool sample) {
  ThreadObservation& observation = *watched.observation;
  const int tid = observation.tid.load(std::memory_order_acquire);
  if (tid == 0) return;
  const int64_t stuck_ns = StuckNs(watched);
  if (sample) {
    // State D for longer than stuckMs is stuck wherever the thread is: the known bug also
    // strikes from task_work, outside io_uring_enter (shared/kernel-lab/README.md). A thread
    // that has come back from the kernel since the last look is neither: no /proc read (under
    // a flood that read, ten times a second, was most of the watchdog's own cost).
    const uint64_t progress = observation.progress.load(std::memory_order_relaxed);
    if (progress != watched.seen_progress) {
      watched.seen_progress = progress;
      watched.d_state_since_ns = 0;
    } else if (TaskState(tid) == 'D') {
      if (watched.d_state_since_ns == 0) watched.d_state_since_ns = now;
    } else {
      watched.d_state_since_ns = 0;
    }
  }
  const int64_t enter_since = observation.enter_since_ns.load(std::memory_order_acquire);
  const int64_t bound = observation.wait_bound_ns.load(std::memory_order_relaxed);
  const bool overdue_in_kernel = enter_since != 0 && now - enter_since > bound + stuck_ns;
  const bool overdue_in_d = watched.d_state_since_ns != 0 && now - watched.d_state_since_ns > stuck_ns;
  if ((overdue_in_kernel || overdue_in_d) && !watched.stuck_active) {
    watched.stuck_active = true;
    StallReport report = Describe(watched, "stuck", true);
    int64_t since = overdue_in_kernel ? enter_since : watched.d_state_since_ns;
    if (overdue_in_kernel && overdue_in_d) since = std::min(enter_since, watched.d_state_since_ns);
    report.age_ms = static_cast<double>(now - since) / 1e6;
    report.in_kernel = enter_since != 0;
    Post(watched, std::move(report));
  } else if (!overdue_in_kernel && watched.d_state_since_ns == 0 && watched.stuck_active) {
    watched.stuck_active = false;
    StallReport report = Describe(watched, "recover", false);
    report.recovered = "stuck";
    Post(watched, std::move(report));
  }
}

bool Watchdog::CheckDeadlines(Watched& watched, int64_t now, bool sample) {
  bool timed = false;
  DeadlineTable& table = *watched.deadlines;
  const int64_t starved_ns = StarvedNs(watched);
  for (unsigned i = 0; i < kDeadlineSlots; i++) {
    DeadlineSlot& slot = table.slots[i];
    const uint32_t id = slot.id.load(std::memory_order_acquire);
    if (id == 0 || (watched.deadline_active[i] != 0 && watched.deadline_active[i] != id)) {
      if (watched.deadline_active[i] != 0) {
        // The stalled request completed (or was cancelled): progress resumed.
        StallReport report = Describe(watched, "recover", false);
        report.recovered = "deadline";
        report.request_id = watched.deadline_active[i];
        Post(watched, std::move(report));
        watched.deadline_active[i] = 0;
      }
      watched.slot_starved[i] = false;
      watched.slot_readable_since_ns[i] = 0;
      if (id == 0) continue;
    }
    const int64_t submitted = slot.submitted_ns.load(std::memory_order_relaxed);
    const int64_t deadline = slot.deadline_ns.load(std::memory_order_relaxed);
    const int64_t progress = slot.progress_ns.load(std::memory_order_relaxed);
    const int64_t last_cqe = slot.last_cqe_ns.load(std::memory_order_relaxed);
    const int64_t last_activity = std::max(submitted, last_cqe);
    if (deadline != 0 || progress != 0) timed = true;
    const bool overdue = (deadline != 0 && now > deadline) || (progress != 0 && now - last_activity > progress);
    if (overdue && watched.deadline_active[i] != id) {
      watched.deadline_active[i] = id;
      StallReport report = Describe(watched, "deadline", true);
      report.fd = slot.fd.load(std::memory_order_relaxed);
      report.opcode = slot.opcode.load(std::memory_order_relaxed);
      report.request_id = id;
      report.age_ms = static_cast<double>(now - (progress != 0 ? last_activity : submitted)) / 1e6;
      Post(watched, std::move(report));
    } else if (!overdue && watched.deadline_active[i] == id) {
      watched.deadline_active[i] = 0;
      StallReport report = Describe(watched, "recover", false);
      report.recovered = "deadline";
      report.request_id = id;
      Post(watched, std::move(report));
    }
    // Starvation: the fd is ready (our own zero-timeout poll says so) but no CQE came.
    const uint32_t events = slot.poll_events.load(std::memory_order_relaxed);
    if (!sample || events == 0) continue;
    pollfd probe{slot.fd.load(std::memory_order_relaxed), static_cast<short>(events), 0};
    const bool ready = poll(&probe, 1, 0) == 1 && (probe.revents & static_cast<short>(events));
    if (!ready || last_cqe > watched.slot_readable_since_ns[i]) {
      watched.slot_readable_since_ns[i] = ready ? now : 0;
      if (watched.slot_starved[i] && last_cqe > 0 && !ready) {
        watched.slot_starved[i] = false;
        StallReport report = Describe(watched, "recover", false);
        report.recovered = "starved";
        report.request_id = id;
        Post(watched, std::move(report));
      }
      continue;
    }
    if (watched.slot_readable_since_ns[i] == 0) watched.slot_readable_since_ns[i] = now;
    if (!watched.slot_starved[i] && now - watched.slot_readable_since_ns[i] > starved_ns) {
      watched.slot_starved[i] = true;
      StallReport report = Describe(watched, "starved", true);
      report.fd = probe.fd;
      report.opcode = slot.opcode.load(std::memory_order_relaxed);
      report.request_id = id;
      report.age_ms = static_cast<double>(now - watched.slot_readable_since_ns[i]) / 1e6;
      Post(watched, std::move(report));
    }
  }
  return timed;
}

int64_t Watchdog::StuckNs(const Watched& watched) const {
  const int64_t ns = watched.thresholds.stuck_ns.load(std::memory_order_relaxed);
  return ns > 0 ? ns : default_stuck_ns_.load(std::memory_order_relaxed);
}

int64_t Watchdog::StarvedNs(const Watched& watched) const {
  const int64_t ns = watched.thresholds.starved_ns.load(std::memory_order_relaxed);
  return ns > 0 ? ns : default_starved_ns_.load(std::memory_order_relaxed);
}

void Watchdog::Post(Watched& watched, StallReport report) {
  if (!watched.members) {
    if (watched.channel) watched.channel->Post(std::move(report));
    return;
  }
  // One report per environment, naming its sockets on the receiver.
  std::vector<std::pair<std::shared_ptr<WatchdogChannel>, std::vector<uint32_t>>> told;
  {
    std::lock_guard<std::mutex> lock(watched.members->mutex);
    for (const std::shared_ptr<WatchMember>& member : watched.members->list) {
      auto it = std::find_if(told.begin(), told.end(), [&](const auto& entry) { return entry.first == member->channel; });
      if (it == told.end()) {
        told.emplace_back(member->channel, std::vector<uint32_t>{});
        it = told.end() - 1;
      }
      it->second.push_back(member->socket_id);
    }
  }
  for (auto& [channel, ids] : told) {
    StallReport copy = report;
    copy.sockets = std::move(ids);
    channel->Post(std::move(copy));
  }
}

// Every socket on a receiver: one whose fd stays readable with no completion for starvedMs,
// while a receive should be armed on it, is starved. The receiver thread is not stuck then (that
// is CheckThread's): its request is gone, or never comes back.
void Watchdog::CheckMembers(Watched& watched, int64_t now) {
  std::vector<std::shared_ptr<WatchMember>> members;
  {
    std::lock_guard<std::mutex> lock(watched.members->mutex);
    members = watched.members->list;
  }
  for (const std::shared_ptr<WatchMember>& member : members) CheckMember(watched, *member, now);
}

void Watchdog::CheckMember(Watched& watched, WatchMember& member, int64_t now) {
  RecvWatch& watch = *member.watch;
  const int fd = watch.fd.load(std::memory_order_relaxed);
  auto post = [&](StallReport report) {
    report.owner = "socket";
    report.owner_id = member.socket_id;
    report.fd = fd;
    member.channel->Post(std::move(report));
  };
  if (fd < 0 || !watch.expected.load(std::memory_order_acquire) || watch.backpressured.load(std::memory_order_acquire)) {
    member.readable_since_ns = 0;
    if (member.starved_active) {
      // Handed back or paused for JS: whatever the cause was, the receiver stopped waiting on it.
      member.starved_active = false;
      StallReport report = Describe(watched, "recover", false);
      report.recovered = "starved";
      post(std::move(report));
    }
    return;
  }
  const int64_t last_cqe = watch.last_cqe_ns.load(std::memory_order_acquire);
  const int64_t previous_sample = member.last_sample_ns;
  member.last_sample_ns = now;
  if (!member.starved_active && previous_sample != 0 && last_cqe > previous_sample) {
    // A completion since the last look: not starved, whatever poll(2) would say; count any
    // starvation from now on (as if the socket were readable now), without the syscall.
    member.readable_since_ns = now;
    return;
  }
  pollfd probe{fd, POLLIN, 0};
  const bool readable = poll(&probe, 1, 0) == 1 && (probe.revents & POLLIN);
  if (!readable || last_cqe > member.readable_since_ns) {
    member.readable_since_ns = readable ? now : 0;
    if (member.starved_active && !readable) {
      member.starved_active = false;
      StallReport report = Describe(watched, "recover", false);
      report.recovered = "starved";
      post(std::move(report));
    }
    return;
  }
  const int64_t starved_ns = member.starved_ns > 0 ? member.starved_ns : default_starved_ns_.load(std::memory_order_relaxed);
  if (!member.starved_active && now - member.readable_since_ns > starved_ns) {
    member.starved_active = true;
    StallReport report = Describe(watched, "starved", true);
    report.opcode = 10;  // IORING_OP_RECVMSG
    report.age_ms = static_cast<double>(now - member.readable_since_ns) / 1e6;
    post(std::move(report));
  }
}

void Watchdog::CheckOverflow(Watched& watched, int64_t now) {
  ThreadObservation& observation = *watched.observation;
  const uint64_t overflow = observation.cq_overflow.load(std::memory_order_relaxed);
  const uint64_t flag_seen = observation.overflow_flag_seen.load(std::memory_order_relaxed);
  if (overflow <= watched.reported_overflow && flag_seen <= watched.reported_flag_seen) return;
  if (now - watched.last_overflow_report_ns < kOverflowReportNs) return;
  watched.last_overflow_report_ns = now;
  watched.reported_overflow = overflow;
  watched.reported_flag_seen = flag_seen;
  Post(watched, Describe(watched, "overflow", false));
}

StallReport Watchdog::Describe(Watched& watched, const char* kind, bool with_proc) {
  ThreadObservation& observation = *watched.observation;
  StallReport report;
  report.kind = kind;
  report.owner = watched.owner;
  report.owner_id = watched.owner_id;
  report.tid = observation.tid.load(std::memory_order_acquire);
  report.in_kernel = observation.enter_since_ns.load(std::memory_order_acquire) != 0;
  report.sq_head = observation.sq_head.load(std::memory_order_relaxed);
  report.sq_tail = observation.sq_tail.load(std::memory_order_relaxed);
  report.cq_head = observation.cq_head.load(std::memory_order_relaxed);
  report.cq_tail = observation.cq_tail.load(std::memory_order_relaxed);
  report.cq_overflow = observation.cq_overflow.load(std::memory_order_relaxed);
  report.overflow_flag_seen = observation.overflow_flag_seen.load(std::memory_order_relaxed);
  if (with_proc && report.tid != 0) {
    const std::string task = "/proc/self/task/" + std::to_string(report.tid) + "/";
    report.state = TaskStateText(report.tid);
    report.wchan = ReadSmallFile(task + "wchan");
    report.syscall = Trim(ReadSmallFile(task + "syscall"));
    report.stack = Trim(ReadSmallFile(task + "stack"));
    const int ring_fd = observation.ring_fd.load(std::memory_order_relaxed);
    if (ring_fd >= 0) report.fdinfo = SplitLines(ReadSmallFile("/proc/self/fdinfo/" + std::to_string(ring_fd)));
  }
  return report;
}

// ---- Node-API ------------------------------------------------------------------------------

// setWatchdogHandler(fn(reports[])): where this environment's reports go. Once per env.
Napi::Value SetWatchdogHandler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "handler must be a function");
  std::shared_ptr<WatchdogChannel> channel = ChannelFor(env);
  // A second copy of the package's JavaScript in the same environment (two versions in one
  // node_modules tree) loads this same addon: the first handler stays, and the cleanup hook is
  // not added twice (Node aborts on a duplicate hook).
  // Registered before any ring of this environment, so it runs after theirs at teardown.
  if (channel->Open(env, info[0].As<Napi::Function>())) napi_add_env_cleanup_hook(env, CloseChannel, channel.get());
  return env.Undefined();
}

// configureWatchdog(stuckMs, starvedMs, intervalMs): process-wide defaults (0 = unchanged).
Napi::Value ConfigureWatchdog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  for (size_t i = 0; i < 3; i++)
    if (!info[i].IsNumber()) throw Napi::TypeError::New(env, "configureWatchdog(stuckMs, starvedMs, intervalMs)");
  auto ns = [&](size_t i) { return static_cast<int64_t>(info[i].As<Napi::Number>().DoubleValue() * 1e6); };
  Watchdog::Instance().SetDefaults(ns(0), ns(1), ns(2));
  return env.Undefined();
}

Napi::Value WatchdogInfo(const Napi::CallbackInfo& info) {
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("watched", Napi::Number::New(info.Env(), Watchdog::Instance().watched_count()));
  return result;
}

}  // namespace uring_udp
