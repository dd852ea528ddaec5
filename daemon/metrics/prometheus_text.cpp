#include "prometheus_text.hpp"

#include <fmt/format.h>

namespace taskpool::daemon::metrics {
namespace {

void append_escaped(std::string& out, std::string_view value) {
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

}  // namespace

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
}

void PrometheusText::write_labels(Labels labels, std::string_view le) {
    if (labels.size() == 0 && le.empty()) {
        return;
    }
    out_ += '{';
    bool first = true;
    auto write = [&](std::string_view key, std::string_view value) {
        if (!first) {
            out_ += ',';
        }
        first = false;
        out_ += key;
        out_ += "=\"";
        append_escaped(out_, value);
        out_ += '"';
    };
    for (const auto& [key, value] : labels) {
        write(key, value);
    }
    if (!le.empty()) {
        write("le", le);
    }
    out_ += '}';
}

void PrometheusText::sample(std::string_view name, Labels labels, double value) {
    out_ += name;
    write_labels(labels);
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void PrometheusText::histogram(std::string_view name, Labels labels, const Histogram& h) {
    for (std::size_t i = 0; i < Histogram::bounds.size(); ++i) {
        out_ += name;
        out_ += "_bucket";
        write_labels(labels, fmt::format("{}", Histogram::bounds[i]));
        fmt::format_to(std::back_inserter(out_), " {}\n", h.at_or_under(i));
    }
    out_ += name;
    out_ += "_bucket";
    write_labels(labels, "+Inf");
    fmt::format_to(std::back_inserter(out_), " {}\n", h.count());
    out_ += name;
    out_ += "_sum";
    write_labels(labels);
    fmt::format_to(std::back_inserter(out_), " {}\n", h.sum());
    out_ += name;
    out_ += "_count";
    write_labels(labels);
    fmt::format_to(std::back_inserter(out_), " {}\n", h.count());
}

}  // namespace taskpool::daemon::metrics
