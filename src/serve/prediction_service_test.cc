#include "serve/prediction_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace sdxl::serve {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A RunFn that logs `steps` steps, sleeping `step_ms` each, and stops when canceled.
RunFn StepRunner(int step_ms, std::atomic<int>* started = nullptr) {
  return
      [step_ms, started](const sdxl::PredictionInput& in, RunContext& ctx) -> core::Result<json> {
        if (started) ++*started;
        if (in.prompt == "fail") return core::InvalidArgument("the engine said no");
        const int steps = in.num_inference_steps.value_or(4);
        for (int i = 1; i <= steps; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
          ctx.Log("step " + std::to_string(i) + "/" + std::to_string(steps));
          if (ctx.Cancelled()) return core::Cancelled("canceled");
        }
        ctx.SetMetric("seed", 7);
        return json::array({"data:image/png;base64,AAAA"});
      };
}

class Recorder : public PredictionObserver {
 public:
  void OnStart(const Prediction& p) override { Add("start:" + std::string(StatusName(p.status))); }
  void OnCompleted(const Prediction& p) override {
    Add("completed:" + std::string(StatusName(p.status)));
  }
  std::vector<std::string> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  void Add(std::string e) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
  }
  std::mutex mu_;
  std::vector<std::string> events_;
};

json Body(json input) { return json{{"input", std::move(input)}}; }

TEST(PredictionService, StartingThenReadyHealth) {
  PredictionService s("test");
  EXPECT_EQ(s.HealthJson()["status"], "STARTING");
  EXPECT_EQ(s.HealthJson()["setup"]["status"], "starting");
  auto r = s.Create(Body({{"prompt", "x"}}), "", false);
  EXPECT_EQ(r.http_status, 503);
  EXPECT_EQ(r.body["status"], "failed");
  s.SetupSucceeded(StepRunner(1), {});
  const json h = s.HealthJson();
  EXPECT_EQ(h["status"], "READY");
  EXPECT_EQ(h["setup"]["status"], "succeeded");
  EXPECT_TRUE(h["setup"].contains("completed_at"));
}

TEST(PredictionService, SetupFailedIsReportedAndRefusesPredictions) {
  PredictionService s("test");
  s.SetupFailed("no such bucket: models");
  const json h = s.HealthJson();
  EXPECT_EQ(h["status"], "SETUP_FAILED");
  EXPECT_NE(h["setup"]["logs"].get<std::string>().find("no such bucket"), std::string::npos);
  EXPECT_EQ(s.Create(Body({}), "", false).http_status, 503);
}

TEST(PredictionService, SyncPredictionSucceedsWithFullObject) {
  PredictionService s("test");
  Recorder rec;
  s.AddObserver(&rec);
  s.SetupSucceeded(StepRunner(1), {});
  auto r = s.Create(Body({{"prompt", "a cat"}, {"unknown_key", 1}}), "", false);
  ASSERT_EQ(r.http_status, 200) << r.body.dump();
  EXPECT_EQ(r.body["status"], "succeeded");
  EXPECT_EQ(r.body["output"][0], "data:image/png;base64,AAAA");
  EXPECT_EQ(r.body["input"]["prompt"], "a cat");
  EXPECT_FALSE(r.body["input"].contains("unknown_key"));
  EXPECT_EQ(r.body["logs"], "step 1/4\nstep 2/4\nstep 3/4\nstep 4/4\n");
  EXPECT_TRUE(r.body["metrics"]["predict_time"].is_number());
  EXPECT_EQ(r.body["metrics"]["seed"], 7);
  EXPECT_TRUE(r.body["error"].is_null());
  EXPECT_EQ(r.body["id"].get<std::string>().rfind("pred_", 0), 0u);
  EXPECT_FALSE(r.body["started_at"].is_null());
  EXPECT_FALSE(r.body["completed_at"].is_null());
  EXPECT_EQ(rec.events(), (std::vector<std::string>{"start:processing", "completed:succeeded"}));
}

TEST(PredictionService, FailedPredictionIs200WithError) {
  PredictionService s("test");
  s.SetupSucceeded(StepRunner(1), {});
  auto r = s.Create(Body({{"prompt", "fail"}}), "", false);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.body["status"], "failed");
  EXPECT_EQ(r.body["error"], "the engine said no");
}

TEST(PredictionService, ValidationErrorsAre422FieldByField) {
  PredictionService s("test");
  std::atomic<int> started{0};
  s.SetupSucceeded(StepRunner(1, &started), {});
  auto r = s.Create(Body({{"num_outputs", 9}, {"output_format", "gif"}}), "", false);
  ASSERT_EQ(r.http_status, 422);
  ASSERT_EQ(r.body["detail"].size(), 2u);
  EXPECT_EQ(r.body["detail"][0]["loc"], json({"body", "input", "num_outputs"}));
  EXPECT_EQ(r.body["detail"][1]["loc"], json({"body", "input", "output_format"}));
  auto bad_input = s.Create(json{{"input", "not an object"}}, "", false);
  EXPECT_EQ(bad_input.http_status, 422);
  auto bad_filter = s.Create(json{{"webhook_events_filter", {"start", "bogus"}}}, "", false);
  EXPECT_EQ(bad_filter.http_status, 422);
  EXPECT_EQ(bad_filter.body["detail"][0]["loc"], json({"body", "webhook_events_filter", "1"}));
  auto bad_hook = s.Create(json{{"webhook", "ftp://x"}}, "", false);
  EXPECT_EQ(bad_hook.http_status, 422);
  EXPECT_EQ(bad_input.body["detail"][0]["loc"], json({"body", "input", "__root__"}));
  // Request fields as coglet types them (differential test: tests/serve/test_cog_differential.py).
  for (const json& bad :
       {json{{"webhook", "https://\xc3\x8f"}}, json{{"webhook", "https://"}},
        json{{"webhook", "https://h/a b"}}, json{{"webhook", 5}},
        json{{"webhook_events_filter", nullptr}}, json{{"webhook_events_filter", "start"}},
        json{{"context", nullptr}}, json{{"context", 5}}, json{{"context", {{"a", 1}}}}}) {
    EXPECT_EQ(s.Create(bad, "", false).http_status, 422) << bad.dump();
  }
  EXPECT_EQ(started.load(), 0);
}

TEST(PredictionService, OptionalRequestFields) {
  PredictionService s("test");
  s.SetupSucceeded(StepRunner(1), {});
  // null id, input and webhook mean "none"; context is a map of strings.
  auto r = s.Create(json{{"id", nullptr},
                         {"input", nullptr},
                         {"webhook", nullptr},
                         {"context", {{"k", "v"}}},
                         {"created_at", "2026-01-02T03:04:05.5+02:00"}},
                    "", false);
  ASSERT_EQ(r.http_status, 200) << r.body.dump();
  EXPECT_EQ(r.body["created_at"], "2026-01-02T03:04:05.5+02:00");  // echoed (py server)
  // Anything else in created_at is ignored (coglet ignores the field).
  for (const json& v : {json(5), json("yesterday"), json("2026-13-02T03:04:05Z"),
                        json("2026-01-02T03:04:05"), json("2026-01-02 03:04:05Z")}) {
    auto other = s.Create(json{{"created_at", v}}, "", false);
    EXPECT_EQ(other.http_status, 200) << v.dump();
    EXPECT_TRUE(other.body["created_at"].is_null()) << v.dump();
  }
}

TEST(PredictionService, AsyncThenBusyThenCancel) {
  PredictionService s("test");
  s.SetupSucceeded(StepRunner(20), {});
  auto a = s.Create(json{{"id", "p1"}, {"input", {{"num_inference_steps", 100}}}}, "", true);
  ASSERT_EQ(a.http_status, 202);
  EXPECT_EQ(a.body["id"], "p1");
  // A second prediction while one runs: 409, as Cog.
  auto busy = s.Create(Body({}), "", true);
  EXPECT_EQ(busy.http_status, 409);
  EXPECT_EQ(busy.body["detail"], "Already running a prediction");
  EXPECT_EQ(s.HealthJson()["status"], "BUSY");
  // PUT of the same id: 202 with the running state, whatever Prefer says.
  auto again = s.Create(Body({}), "p1", false);
  EXPECT_EQ(again.http_status, 202);
  EXPECT_EQ(again.body["id"], "p1");
  EXPECT_EQ(s.Cancel("nope").http_status, 404);
  EXPECT_EQ(s.Cancel("p1").http_status, 200);
  ASSERT_TRUE(s.WaitIdle(5s));
  EXPECT_EQ(s.Cancel("p1").http_status, 404);  // finished predictions are forgotten
  EXPECT_EQ(s.HealthJson()["status"], "READY");
}

TEST(PredictionService, SyncCancelReturnsCanceled) {
  PredictionService s("test");
  s.SetupSucceeded(StepRunner(20), {});
  auto fut = std::async(std::launch::async, [&] {
    return s.Create(json{{"input", {{"num_inference_steps", 100}}}}, "sync-1", false);
  });
  for (int i = 0; i < 200 && s.Cancel("sync-1").http_status != 200; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  auto r = fut.get();
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.body["status"], "canceled");
  EXPECT_TRUE(r.body["metrics"]["predict_time"].is_number());
}

TEST(PredictionService, InFlightShowsProgressThenForgets) {
  PredictionService s("test");
  s.SetupSucceeded(StepRunner(20), {});
  EXPECT_EQ(s.InFlight("p1").http_status, 404);
  ASSERT_EQ(s.Create(json{{"input", {{"num_inference_steps", 100}}}}, "p1", true).http_status, 202);
  std::string logs;
  for (int i = 0; i < 500 && logs.find("step 2/100") == std::string::npos; ++i) {
    auto r = s.InFlight("p1");
    ASSERT_EQ(r.http_status, 200);
    EXPECT_EQ(r.body["id"], "p1");
    logs = r.body["logs"].get<std::string>();
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_NE(logs.find("step 2/100"), std::string::npos);
  EXPECT_EQ(s.InFlight("other").http_status, 404);
  ASSERT_EQ(s.Cancel("p1").http_status, 200);
  ASSERT_TRUE(s.WaitIdle(5s));
  // Reading never creates or reruns: a finished id is 404 and the service stays idle.
  EXPECT_EQ(s.InFlight("p1").http_status, 404);
  EXPECT_EQ(s.HealthJson()["status"], "READY");
}

TEST(PredictionService, PutIdMismatchIs422) {
  PredictionService s("test");
  s.SetupSucceeded(StepRunner(1), {});
  auto r = s.Create(json{{"id", "a"}}, "b", false);
  ASSERT_EQ(r.http_status, 422);
  EXPECT_EQ(r.body["detail"][0]["msg"], "prediction ID must match the ID supplied in the URL");
  auto ok = s.Create(json{{"id", "b"}}, "b", false);
  EXPECT_EQ(ok.http_status, 200);
  EXPECT_EQ(ok.body["id"], "b");
  // A finished id runs again.
  auto rerun = s.Create(json::object(), "b", false);
  EXPECT_EQ(rerun.http_status, 200);
}

TEST(PredictionService, ShutdownRefusesNewButFinishesRunning) {
  PredictionService s("test");
  s.SetupSucceeded(StepRunner(10), {});
  auto a = s.Create(json{{"input", {{"num_inference_steps", 10}}}}, "run", true);
  ASSERT_EQ(a.http_status, 202);
  s.BeginShutdown();
  EXPECT_EQ(s.Create(Body({}), "", false).http_status, 503);
  ASSERT_TRUE(s.WaitIdle(5s));
}

TEST(Prediction, TimestampsAreIsoUtc) {
  const std::string t = IsoTimestamp(std::chrono::system_clock::time_point{});
  EXPECT_EQ(t, "1970-01-01T00:00:00.000000+00:00");
  EXPECT_NE(NewPredictionId(), NewPredictionId());
  EXPECT_EQ(NewPredictionId().size(), 5u + 24u);
}

}  // namespace
}  // namespace sdxl::serve
