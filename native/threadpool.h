// A fixed pool of worker threads for the forward pass. Generation runs ~200
// small matrix products per token, so a job must start in microseconds:
// workers spin briefly on an epoch counter before falling back to sleeping
// on a condition variable (so an idle model does not burn a core).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qx {

class ThreadPool {
public:
    // n_threads includes the calling thread; 1 means no workers.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Runs fn(task, thread_index) for task in [0, n_tasks), tasks handed out
    // dynamically; returns when all are done. Not reentrant.
    void parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)>& fn);

private:
    void worker_main(int index);
    void run_tasks(int thread_index);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::atomic<uint64_t> epoch_{0};
    std::atomic<int64_t> next_task_{0};
    std::atomic<int> active_{0};
    int64_t n_tasks_ = 0;
    const std::function<void(int64_t, int)>* fn_ = nullptr;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<int> sleepers_{0};
};

}  // namespace qx
