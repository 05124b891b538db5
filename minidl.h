#pragma once
// minidl — the one header users include.
//   #include <minidl/minidl.h>
//   namespace md = minidl;
#include "minidl/core/backend/backend.h"
#include "minidl/core/compute.h"
#include "minidl/core/dtype.h"
#include "minidl/core/error.h"
#include "minidl/core/random.h"
#include "minidl/core/shape.h"
#include "minidl/core/storage.h"
#include "minidl/core/tensor.h"
#include "minidl/core/threading.h"
#include "minidl/autograd/gradcheck.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/tape.h"
#include "minidl/autograd/variable.h"
