# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm_backend/ctl/: see vmm_backend/module.mk.
