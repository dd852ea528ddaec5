#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "job.hpp"
#include "json_writer.hpp"
#include "request.hpp"

namespace taskpool::proto {

/// Room for a job reply with small args and result: one allocation, not five
/// as the line doubles.
inline constexpr std::size_t reply_capacity = 512;

/// The only places reply and event lines are built. Every line ends with LF.
///
/// A success reply is `{"id":..., "ok":true, <fields>}`; `write_fields` receives a
/// JsonWriter positioned inside the object and adds the op's fields.
template <std::invocable<JsonWriter&> WriteFields>
std::string encode_ok(const RequestId& id, WriteFields&& write_fields) {
    JsonWriter w({}, reply_capacity);
    w.begin_object();
    if (id) {
        w.field("id", *id);
    }
    w.field("ok", true);
    write_fields(w);
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

/// A success reply whose fields are the members of `fields` (an object).
std::string encode_ok(const RequestId& id, const nlohmann::json& fields);
std::string encode_ok(const RequestId& id);
std::string encode_job_reply(const RequestId& id, const Job& job);
std::string encode_error(const RequestId& id, const Error& error);

/// `{"event": "<name>", "job": {...}}`
std::string encode_job_event(std::string_view event, const Job& job);

/// `{"event": "job.progress", "job": id, "progress": ...}`
std::string encode_progress_event(std::string_view job_id, const RawJson& progress);

/// How the jobs of a batch ended.
struct BatchCounts {
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;
    std::uint64_t cancelled = 0;
};

/// How a batch ended: its counts, and for a map with `then` its follow-up's id,
/// or why there is none.
struct BatchEnd {
    BatchCounts counts;
    Boxed<std::string> then_job;
    Boxed<Error> then_error;
};

/// `{"event": "batch.finished", "batch": id, "counts": {...}, "finished_at": time}`,
/// with `then_job` or `then_error` where the map had `then`.
std::string encode_batch_event(std::string_view batch, const BatchEnd& end, Timestamp finished_at);

}  // namespace taskpool::proto
