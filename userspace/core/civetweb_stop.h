// Stopping a civetweb server on loopback without its listener's 2 s wait (test servers: the OTLP
// test receiver, the fake Kubernetes API). Its own small library (loupe_civetweb_stop).
#pragma once

struct mg_context;

namespace loupe {

// mg_stop(ctx), while connections to 127.0.0.1:`port` wake the listener, which otherwise polls
// in 2 s quanta before it notices the stop flag.
void StopCivetwebOnLoopback(mg_context* ctx, int port);

}  // namespace loupe
