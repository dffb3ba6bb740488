// The contract between the addon and src/: every index, offset, flag bit and size the
// TypeScript side needs is exported from here, so nothing is written twice (udx-native's
// offsetof_* exports are the model). src/native.ts types it; test/boundary.test.ts checks it.
#pragma once

#include <napi.h>

namespace uring_udp {

Napi::Object BoundaryConstants(Napi::Env env);
// receiveLayout(maxDatagramSize, receiveBudget, hybrid): the sizes a socket's receive path takes.
Napi::Value ReceiveLayoutMethod(const Napi::CallbackInfo& info);
// interfaceName(index): if_indextoname, or the number as text.
Napi::Value InterfaceNameMethod(const Napi::CallbackInfo& info);

}  // namespace uring_udp
