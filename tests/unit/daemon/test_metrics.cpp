#include "daemon/metrics/job_metrics.hpp"
#include "daemon/metrics/prometheus_text.hpp"

#include <doctest/doctest.h>

namespace metrics = taskpool::daemon::metrics;
namespace proto = taskpool::proto;

TEST_CASE("metrics.histogram.buckets_are_cumulative") {
    metrics::Histogram h;
    h.observe(0.0005);
    h.observe(0.003);
    h.observe(0.003);
    h.observe(5000);
    CHECK(h.at_or_under(0) == 1);  // <= 1 ms
    CHECK(h.at_or_under(1) == 1);  // <= 2.5 ms
    CHECK(h.at_or_under(2) == 3);  // <= 5 ms
    CHECK(h.at_or_under(metrics::Histogram::bounds.size() - 1) == 3);
    CHECK(h.count() == 4);
    CHECK(h.sum() == doctest::Approx(5000.0065));
}

TEST_CASE("metrics.job_metrics.counts_ends_by_task_and_times_by_pool") {
    metrics::JobMetrics m;
    proto::Job job;
    job.task = "fib";
    job.pool = proto::PoolKind::process;
    job.submitted_at = proto::Timestamp(std::chrono::milliseconds(1000));
    job.started_at = proto::Timestamp(std::chrono::milliseconds(1003));
    m.job_started(job);
    job.finished_at = proto::Timestamp(std::chrono::milliseconds(1503));
    job.state = proto::JobState::succeeded;
    m.job_finished(job);
    job.state = proto::JobState::cancelled;
    job.started_at.reset();
    m.job_finished(job);  // cancelled while queued: no run time
    CHECK(m.waited(proto::PoolKind::process).count() == 1);
    CHECK(m.waited(proto::PoolKind::process).sum() == doctest::Approx(0.003));
    CHECK(m.ran(proto::PoolKind::process).count() == 1);
    CHECK(m.ran(proto::PoolKind::thread).count() == 0);
    CHECK(m.ended().at("fib") == metrics::JobMetrics::EndCounts{1, 0, 1});
}

TEST_CASE("metrics.prometheus_text.format") {
    metrics::PrometheusText out;
    out.family("taskpool_x", "gauge", "An example.");
    out.sample("taskpool_x", {{"task", "a\"b\\c\nd"}}, 2);
    out.sample("taskpool_y", {}, 0.25);
    metrics::Histogram h;
    h.observe(0.002);
    out.histogram("taskpool_h", {{"pool", "thread"}}, h);
    auto text = out.take();
    CHECK(
        text.starts_with("# HELP taskpool_x An example.\n# TYPE taskpool_x gauge\n"
                         "taskpool_x{task=\"a\\\"b\\\\c\\nd\"} 2\ntaskpool_y 0.25\n"));
    CHECK(text.find("taskpool_h_bucket{pool=\"thread\",le=\"0.001\"} 0\n") != std::string::npos);
    CHECK(text.find("taskpool_h_bucket{pool=\"thread\",le=\"0.0025\"} 1\n") != std::string::npos);
    CHECK(text.find("taskpool_h_bucket{pool=\"thread\",le=\"+Inf\"} 1\n") != std::string::npos);
    CHECK(text.find("taskpool_h_count{pool=\"thread\"} 1\n") != std::string::npos);
}
