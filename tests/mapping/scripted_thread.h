// ScriptedThread: a thread that does nothing but the steps a test hands it, when the test
// hands them over. Tests of generations use it to decide exactly when another thread
// enters or leaves a guard, retires or walks a chain, so their verdict does not depend
// on how the scheduler interleaves threads (and still runs real threads under TSan).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace llama::testing {

class ScriptedThread {
 public:
  ScriptedThread() : thread_([this] { Loop(); }) {}
  // Finishes the step in progress, if any, then ends the thread.
  ~ScriptedThread() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  ScriptedThread(const ScriptedThread&) = delete;
  ScriptedThread& operator=(const ScriptedThread&) = delete;

  // Hands `step` to the thread and returns while it runs (after the previous step ended).
  void Start(std::function<void()> step) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !busy_; });
    step_ = std::move(step);
    busy_ = true;
    cv_.notify_all();
  }
  // Returns once the step started last has ended; everything it did happens before.
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !busy_; });
  }
  void Run(std::function<void()> step) {
    Start(std::move(step));
    Wait();
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> step;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return busy_ || stopping_; });
        if (!busy_) return;
        step = std::move(step_);
      }
      step();
      {
        std::lock_guard lock(mu_);
        busy_ = false;
      }
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> step_;
  bool busy_ = false;  // a step was handed over and has not ended
  bool stopping_ = false;
  std::thread thread_;  // last: it starts running Loop once the members above exist
};

}  // namespace llama::testing
