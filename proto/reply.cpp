#include "reply.hpp"

namespace taskpool::proto {

std::string encode_ok(const RequestId& id, const nlohmann::json& fields) {
    return encode_ok(id, [&](JsonWriter& w) {
        for (const auto& [k, v] : fields.items()) {
            w.field(k, v);
        }
    });
}

std::string encode_ok(const RequestId& id) {
    return encode_ok(id, [](JsonWriter&) {});
}

std::string encode_job_reply(const RequestId& id, const Job& job) {
    return encode_ok(id, [&](JsonWriter& w) {
        w.key("job");
        write_job(w, job);
    });
}

std::string encode_error(const RequestId& id, const Error& error) {
    JsonWriter w;
    w.begin_object();
    if (id) {
        w.field("id", *id);
    }
    w.field("ok", false);
    w.key("error").begin_object();
    w.field("code", to_string(error.code));
    w.field("message", error.message);
    w.end_object();
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

std::string encode_job_event(std::string_view event, const Job& job) {
    JsonWriter w;
    w.begin_object();
    w.field("event", event);
    w.key("job");
    write_job(w, job);
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

std::string encode_progress_event(std::string_view job_id, const RawJson& progress) {
    JsonWriter w;
    w.begin_object();
    w.field("event", "job.progress");
    w.field("job", job_id);
    w.field("progress", progress);
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

std::string encode_batch_event(std::string_view batch, const BatchEnd& end, Timestamp finished_at) {
    const auto& counts = end.counts;
    JsonWriter w;
    w.begin_object();
    w.field("event", "batch.finished");
    w.field("batch", batch);
    w.key("counts").begin_object();
    w.field("succeeded", counts.succeeded);
    w.field("failed", counts.failed);
    w.field("cancelled", counts.cancelled);
    w.end_object();
    if (end.then_job) {
        w.field("then_job", *end.then_job);
    }
    if (end.then_error) {
        w.key("then_error").begin_object();
        w.field("code", to_string(end.then_error->code));
        w.field("message", end.then_error->message);
        w.end_object();
    }
    auto finished = timestamp_text(finished_at);
    w.field("finished_at", std::string_view(finished.data(), finished.size()));
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

}  // namespace taskpool::proto
