#include "redis_kv.hpp"

#include <memory>

#include "daemon/cluster/lua_scripts.hpp"
#include "daemon/kv/kv_store.hpp"
#include "proto/json_writer.hpp"
#include "redis_job_store.hpp"

namespace taskpool::daemon::cluster {
namespace {

using nlohmann::json;
using proto::Error;
using proto::ErrorCode;
using proto::Result;
using Kind = RedisReply::Kind;

/// A value as Redis holds it: JSON text, or nil for none.
json value_of(const RedisReply& r) {
    return r.kind == Kind::string ? json::parse(r.text, nullptr, false) : json(nullptr);
}

Error unexpected(const RedisReply& r) {
    return {ErrorCode::unavailable, "Redis answered a kv change with " +
                                        (r.kind == Kind::error ? r.text : "something unexpected")};
}

Error full(const RedisReply& r, const std::string& max) {
    return {ErrorCode::unavailable, "kv would hold " + r.elements[1].text +
                                        " bytes, over kv.max_bytes (" + max +
                                        "); nothing was changed: delete keys, or store less"};
}

/// The script's outcome: its first element.
std::string_view outcome(const RedisReply& r) {
    return r.kind == Kind::array && !r.elements.empty() ? std::string_view(r.elements[0].text)
                                                        : std::string_view();
}

}  // namespace

RedisKv::RedisKv(RedisJobStore& store, std::size_t max_bytes)
    : store_(store),
      max_bytes_(std::to_string(max_bytes)),
      script_(std::string(lua::common_lua) + std::string(lua::kv_lua)) {}

void RedisKv::get(const std::string& key, Done done) {
    store_.command({"HGET", store_.key("kv"), key}, [done = std::move(done)](Result<RedisReply> r) {
        r ? done(json{{"value", value_of(*r)}}) : done(r.error());
    });
}

void RedisKv::set(const std::string& key, const json& value, Done done) {
    if (value.is_null()) {  // null removes the key
        del(key, [done = std::move(done)](Result<json> r) {
            r ? done(json{{"value", nullptr}}) : done(r.error());
        });
        return;
    }
    store_.script(script_, {"set", key, proto::json_text(value), max_bytes_},
                  [this, value, done = std::move(done)](Result<RedisReply> r) {
                      if (!r) {
                          done(r.error());
                      } else if (outcome(*r) == "ok") {
                          done(json{{"value", value}});
                      } else {
                          done(outcome(*r) == "full" ? full(*r, max_bytes_) : unexpected(*r));
                      }
                  });
}

void RedisKv::del(const std::string& key, Done done) {
    store_.script(script_, {"del", key}, [done = std::move(done)](Result<RedisReply> r) {
        if (!r) {
            done(r.error());
        } else if (outcome(*r) == "ok") {
            done(json{{"value", r->elements.size() > 1 ? value_of(r->elements[1]) : json()}});
        } else {
            done(unexpected(*r));
        }
    });
}

void RedisKv::incr(const std::string& key, std::int64_t by, Done done) {
    store_.script(
        script_, {"incr", key, std::to_string(by), max_bytes_},
        [this, key, by, done = std::move(done)](Result<RedisReply> r) {
            if (!r) {
                done(r.error());
                return;
            }
            auto what = outcome(*r);
            if (what == "ok") {
                done(json{{"value", value_of(r->elements[1])}});
            } else if (what == "not_integer") {
                json v = value_of(r->elements[1]);
                done(proto::bad_request("key '" + key + "' holds " + std::string(v.type_name()) +
                                        " " + proto::json_text(v).substr(0, 100) +
                                        ", not an integer"));
            } else if (what == "overflow") {
                done(proto::bad_request("key '" + key + "': " + r->elements[1].text + " + " +
                                        std::to_string(by) + " overflows a 64-bit integer"));
            } else {
                done(what == "full" ? full(*r, max_bytes_) : unexpected(*r));
            }
        });
}

void RedisKv::list(const std::string& prefix, const std::string& after, int limit, Done done) {
    store_.script(script_, {"list", "", prefix, after, std::to_string(limit)},
                  [done = std::move(done)](Result<RedisReply> r) {
                      if (!r) {
                          done(r.error());
                          return;
                      }
                      if (outcome(*r) != "ok" || r->elements.size() < 2) {
                          done(unexpected(*r));
                          return;
                      }
                      const auto& e = r->elements;
                      json values = json::array();
                      for (std::size_t i = 2; i + 1 < e.size(); i += 2) {
                          values.push_back({{"key", e[i].text}, {"value", value_of(e[i + 1])}});
                      }
                      done(json{{"values", std::move(values)}, {"more", e[1].integer != 0}});
                  });
}

void RedisKv::cas(const std::string& key, json expect, json value, Done done) {
    store_.command({"HGET", store_.key("kv"), key}, [this, key, expect = std::move(expect),
                                                     value = std::move(value),
                                                     done = std::move(done)](
                                                        Result<RedisReply> r) mutable {
        if (!r) {
            done(r.error());
            return;
        }
        json current = value_of(*r);
        if (!kv::same_value(current, expect)) {
            done(json{{"swapped", false}, {"value", std::move(current)}});
            return;
        }
        std::string seen = r->kind == Kind::string ? r->text : "";
        std::vector<std::string> args{"swap", key, seen,
                                      value.is_null() ? "" : proto::json_text(value), max_bytes_};
        if (value.is_null()) {
            args[0] = "swap_del";
        }
        store_.script(script_, std::move(args),
                      [this, key, expect = std::move(expect), value = std::move(value),
                       done = std::move(done)](Result<RedisReply> w) mutable {
                          if (!w) {
                              done(w.error());
                          } else if (outcome(*w) == "ok") {
                              done(json{{"swapped", true}, {"value", std::move(value)}});
                          } else if (outcome(*w) == "changed") {
                              // Changed since it was compared: compare again.
                              cas(key, std::move(expect), std::move(value), std::move(done));
                          } else {
                              done(outcome(*w) == "full" ? full(*w, max_bytes_) : unexpected(*w));
                          }
                      });
    });
}

}  // namespace taskpool::daemon::cluster
