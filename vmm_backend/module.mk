# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm_backend/: the VMM binary. Sub-folders with their own owners add objects in their fragments:
#   ctl/module.mk     VMM_CONTROL_OBJS (control server + codec), LIBVMMCTL_OBJS, VMM_LOADER_OBJS, vmmctl
#   virtio/module.mk  VMM_VIRTIO_OBJS (PCI, virtio transport, balloon)
#   swap/module.mk    VMM_SWAP_OBJS (vmm-swap)
include vmm_backend/ctl/module.mk
include vmm_backend/virtio/module.mk
include vmm_backend/swap/module.mk
