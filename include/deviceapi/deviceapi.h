// Umbrella header of the Device API C++ client library.
#ifndef DEVICEAPI_DEVICEAPI_H_
#define DEVICEAPI_DEVICEAPI_H_

#include "deviceapi/clientset.h"
#include "deviceapi/conditions.h"
#include "deviceapi/config.h"
#include "deviceapi/errors.h"
#include "deviceapi/options.h"
#include "deviceapi/retry.h"
#include "deviceapi/version.h"
#include "deviceapi/watch.h"

#endif  // DEVICEAPI_DEVICEAPI_H_
