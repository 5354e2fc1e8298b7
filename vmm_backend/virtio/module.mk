# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm_backend/virtio/: see vmm_backend/module.mk.
