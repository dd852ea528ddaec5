#include "logging.hpp"

#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "proto/json_writer.hpp"

namespace taskpool::daemon {
namespace {

/// Formats the message as a JSON string so that quotes or newlines in it never break
/// the line (a plain pattern would paste the message in raw).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        std::string out;
        proto::append_json_string(out, std::string_view(msg.payload.data(), msg.payload.size()));
        dest.append(out.data(), out.data() + out.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonMessageFlag>();
    }
};

/// The level as the config spells it ("warn", not spdlog's "warning"), padded to
/// five characters where `padded`, so that text lines align.
class LevelFlag final : public spdlog::custom_flag_formatter {
public:
    explicit LevelFlag(bool padded) : padded_(padded) {}
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        static constexpr std::string_view names[] = {"trace", "debug",    "info", "warn",
                                                     "error", "critical", "off"};
        auto name = names[static_cast<std::size_t>(msg.level)];
        dest.append(name.data(), name.data() + name.size());
        for (auto n = name.size(); padded_ && n < 5; ++n) {
            dest.push_back(' ');
        }
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<LevelFlag>(padded_);
    }

private:
    bool padded_;
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
    auto logger = std::make_shared<spdlog::logger>(
        "taskpoold", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    // Times in UTC, and they say so (Z). A custom 'l' replaces spdlog's own level.
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc,
                                                                 std::string("\n"));
    bool json = format == "json";
    formatter->add_flag<LevelFlag>('l', !json);
    if (json) {
        formatter->add_flag<JsonMessageFlag>('*').set_pattern(
            R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":%*})");
    } else {
        formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
    }
    logger->set_formatter(std::move(formatter));
    logger->set_level(spdlog::level::from_str(level));
    // Lines reach a pipe or file at once: operators tail them, tests read them.
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace taskpool::daemon
