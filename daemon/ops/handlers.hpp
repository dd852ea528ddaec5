#pragma once

#include "call.hpp"
#include "proto/request.hpp"

namespace taskpool::daemon::ops {

// One handler per op, each in its own file. A handler answers through call.reply,
// at once or later, and does no I/O of its own.
void handle(proto::HelloRequest req, Call& call);
void handle(proto::PingRequest req, Call& call);
void handle(proto::SubmitRequest req, Call& call);
void handle(proto::MapRequest req, Call& call);
void handle(proto::GetRequest req, Call& call);
void handle(proto::CancelRequest req, Call& call);
void handle(proto::RetryRequest req, Call& call);
void handle(proto::ListRequest req, Call& call);
void handle(proto::StatsRequest req, Call& call);
void handle(proto::TasksRequest req, Call& call);
void handle(proto::SubscribeRequest req, Call& call);
void handle(proto::UnsubscribeRequest req, Call& call);
void handle(proto::ResizeRequest req, Call& call);
void handle(proto::ShutdownRequest req, Call& call);
void handle(proto::KvGetRequest req, Call& call);
void handle(proto::KvSetRequest req, Call& call);
void handle(proto::KvDelRequest req, Call& call);
void handle(proto::KvIncrRequest req, Call& call);
void handle(proto::KvCasRequest req, Call& call);
void handle(proto::KvListRequest req, Call& call);
void handle(proto::WorkerRegisterRequest req, Call& call);
void handle(proto::WorkerQuietRequest req, Call& call);
void handle(proto::JobDoneRequest req, Call& call);
void handle(proto::JobFailRequest req, Call& call);
void handle(proto::JobProgressRequest req, Call& call);
void handle(proto::QueueSetRequest req, Call& call);
void handle(proto::QueueListRequest req, Call& call);
void handle(proto::PauseRequest req, Call& call);
void handle(proto::ResumeRequest req, Call& call);
void handle(proto::ScheduleSetRequest req, Call& call);
void handle(proto::ScheduleDelRequest req, Call& call);
void handle(proto::ScheduleListRequest req, Call& call);

}  // namespace taskpool::daemon::ops
