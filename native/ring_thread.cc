#include "ring_thread.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace uring_udp {

RingThread::RingThread(const char* name, std::shared_ptr<ThreadObservation> observation)
    : name_(name), observation_(std::move(observation)) {}

RingThread::~RingThread() { LetGo(); }

void RingThread::LetGo() {
  // A joinable std::thread destroyed is std::terminate.
  if (!thread_.joinable()) return;
  if (Exited()) thread_.join();
  else thread_.detach();
}

int RingThread::Start(std::string* failed_syscall) {
  thread_ = std::thread([this] { ThreadMain(); });
  std::unique_lock<std::mutex> lock(mutex_);
  // Setup makes a fresh ring, which takes no lock the known bugs leak: this wait is bounded.
  state_changed_.wait(lock, [this] { return setup_done_; });
  if (setup_result_ < 0) {
    *failed_syscall = setup_syscall_;
    lock.unlock();
    thread_.join();
    return setup_result_;
  }
  return 0;
}

void RingThread::ThreadMain() {
  // Named for ps -L, gdb, /proc/PID/task/TID/comm and the kernel's hung-task reports; the
  // benchmark times threads by these names.
  pthread_setname_np(pthread_self(), name_);
  observation_->tid.store(static_cast<int>(syscall(SYS_gettid)), std::memory_order_release);
  std::string failed;
  const int result = Setup(&failed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    setup_result_ = result;
    setup_syscall_ = failed;
    setup_done_ = true;
  }
  state_changed_.notify_all();
  if (result < 0) {
    observation_->running.store(false, std::memory_order_release);
    exited_.store(true, std::memory_order_release);
    return;
  }
  Run();
  observation_->running.store(false, std::memory_order_release);
  {
    // Its last words and "exited" in one step, under the mutex WaitExited waits with: JS may
    // take the last words through an earlier wake-up and join at once (a gap between the two
    // made such a join fail under ASan), and a store outside the mutex could fall between a
    // waiter's check and its sleep and be missed.
    std::lock_guard<std::mutex> lock(mutex_);
    OnExitLocked();
    exited_.store(true, std::memory_order_release);
  }
  state_changed_.notify_all();
  NotifyJs();
}

bool RingThread::WaitExited(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return state_changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return Exited(); });
}

void RingThread::Join() {
  if (thread_.joinable()) thread_.join();
}

void RingThread::Detach() {
  if (thread_.joinable()) thread_.detach();
}

void RingThread::EnterEnd() {
  observation_->enter_since_ns.store(0, std::memory_order_release);
  observation_->progress.fetch_add(1, std::memory_order_relaxed);
  enters_++;
}

io_uring_sqe* RingThread::NextSqe(io_uring* ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  while (!sqe) {
    EnterBegin();
    io_uring_submit(ring);  // with SQPOLL: publishes the tail and wakes a sleeping SQ thread
    EnterEnd();
    sqe = io_uring_get_sqe(ring);
    if (!sqe && (ring->flags & IORING_SETUP_SQPOLL)) {
      EnterBegin();
      io_uring_sqring_wait(ring);
      EnterEnd();
      sqe = io_uring_get_sqe(ring);
    }
  }
  return sqe;
}

void RingThread::PublishRing(const io_uring& ring, uint64_t overflow_flag_seen) {
  ThreadObservation& o = *observation_;
  o.sq_head.store(IO_URING_READ_ONCE(*ring.sq.khead), std::memory_order_relaxed);
  o.sq_tail.store(ring.sq.sqe_tail, std::memory_order_relaxed);
  o.cq_head.store(IO_URING_READ_ONCE(*ring.cq.khead), std::memory_order_relaxed);
  o.cq_tail.store(IO_URING_READ_ONCE(*ring.cq.ktail), std::memory_order_relaxed);
  o.cq_overflow.store(IO_URING_READ_ONCE(*ring.cq.koverflow), std::memory_order_relaxed);
  o.overflow_flag_seen.store(overflow_flag_seen, std::memory_order_relaxed);
}

int SetupWithFallback(io_uring* ring, unsigned entries, const io_uring_params& base, const std::vector<unsigned>& flag_sets,
                      io_uring_params* params) {
  int result = -EINVAL;
  for (unsigned flags : flag_sets) {
    *params = base;
    params->flags |= flags;
    result = io_uring_queue_init_params(entries, ring, params);
    if (result != -EINVAL) break;
  }
  return result;
}

}  // namespace uring_udp
