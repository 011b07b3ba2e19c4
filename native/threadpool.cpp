#include "threadpool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define QX_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define QX_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define QX_CPU_RELAX() ((void)0)
#endif

namespace qx {

namespace {
// Spin with pause first (a job usually follows within microseconds), then
// keep polling but yield the core each time, so that when the machine is
// oversubscribed the thread we wait for gets to run; then sleep.
constexpr int kSpinPause = 2000;
constexpr int kSpinYield = 4000;

inline void backoff(int spins) {
    if (spins < kSpinPause)
        QX_CPU_RELAX();
    else
        std::this_thread::yield();
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    workers_.reserve(n_threads_ - 1);
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_.store(true);
        epoch_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks(int thread_index) {
    for (;;) {
        int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
        if (t >= n_tasks_) break;
        (*fn_)(t, thread_index);
    }
}

void ThreadPool::worker_main(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t e = epoch_.load(std::memory_order_acquire);
        int spins = 0;
        while (e == seen) {
            if (++spins < kSpinPause + kSpinYield) {
                backoff(spins);
            } else {
                std::unique_lock<std::mutex> lk(mu_);
                sleepers_.fetch_add(1);
                cv_.wait(lk, [&] { return epoch_.load(std::memory_order_acquire) != seen; });
                sleepers_.fetch_sub(1);
                spins = 0;
            }
            e = epoch_.load(std::memory_order_acquire);
        }
        seen = e;
        if (stop_.load()) return;
        run_tasks(index);
        active_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
    if (n_tasks <= 0) return;
    if (n_threads_ == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
        return;
    }
    fn_ = &fn;
    n_tasks_ = n_tasks;
    next_task_.store(0, std::memory_order_relaxed);
    active_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        // Taking the lock orders the epoch bump against a worker that is
        // about to sleep, so no wake-up is lost.
        std::lock_guard<std::mutex> lk(mu_);
        epoch_.fetch_add(1, std::memory_order_acq_rel);
    }
    if (sleepers_.load() > 0) cv_.notify_all();
    run_tasks(0);
    for (int spins = 0; active_.load(std::memory_order_acquire) != 0; ++spins) backoff(spins);
    fn_ = nullptr;
}

}  // namespace qx
