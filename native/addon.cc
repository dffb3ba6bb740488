// Module entry point. Each worker thread that loads the addon gets its own class constructors
// and its own per-environment state (EnvData); what is shared between environments is the
// watchdog thread and the receiver pool, both process-wide.
#include <napi.h>

#include "boundary.h"
#include "probe.h"
#include "receiver.h"
#include "ring_core.h"
#include "ring_wrap.h"
#include "testing.h"
#include "udp_wrap.h"
#include "watchdog.h"

namespace uring_udp {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeRing", RingWrap::Define(env));
  exports.Set("NativeUdp", UdpWrap::Define(env));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("setWatchdogHandler", Napi::Function::New(env, SetWatchdogHandler, "setWatchdogHandler"));
  exports.Set("configureWatchdog", Napi::Function::New(env, ConfigureWatchdog, "configureWatchdog"));
  exports.Set("watchdogInfo", Napi::Function::New(env, WatchdogInfo, "watchdogInfo"));
  exports.Set("configureReceivers", Napi::Function::New(env, ConfigureReceivers, "configureReceivers"));
  exports.Set("receiverInfo", Napi::Function::New(env, ReceiverInfo, "receiverInfo"));
  exports.Set("receiveLayout", Napi::Function::New(env, ReceiveLayoutMethod, "receiveLayout"));
  exports.Set("interfaceName", Napi::Function::New(env, InterfaceNameMethod, "interfaceName"));
  exports.Set("constants", BoundaryConstants(env));
  exports.Set("testing", TestingExports(env));
  return exports;
}

NODE_API_MODULE(uring_udp, Init)

}  // namespace uring_udp
