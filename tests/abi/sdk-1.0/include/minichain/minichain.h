/*
 * minichain/minichain.h - the whole plugin SDK in one include.
 */
#ifndef MINICHAIN_MINICHAIN_H
#define MINICHAIN_MINICHAIN_H

#include "minichain/consensus.h"
#include "minichain/error.h"
#include "minichain/host.h"
#include "minichain/plugin.h"
#include "minichain/store.h"
#include "minichain/types.h"

#endif /* MINICHAIN_MINICHAIN_H */
