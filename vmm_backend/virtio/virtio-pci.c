/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio 1.x modern PCI transport: capabilities, common configuration state machine, ISR,
 * notifications and the device-configuration window. */
#include "vmm_backend/virtio/virtio-pci.h"

#include "vmm_backend/macro.h"

/* struct virtio_pci_cap (§4.1.4): vndr, next, len, cfg_type, bar, id, pad[2], offset, length. */
#define CAP_LEN 16
#define NOTIFY_CAP_LEN 20 /* + notify_off_multiplier */
#define PCI_CFG_CAP_LEN 20 /* + pci_cfg_data[4] */

struct VirtioPci {
        PciDevice pci;
        pthread_mutex_t lock;
        char *name;
        uint64_t device_features;
        const VirtioDeviceOps *ops;
        void *dev;
        const GuestMem *mem;
        VirtioNeedsResetFn needs_reset;
        void *needs_reset_opaque;
        uint32_t config_size;

        /* Common configuration state. */
        uint32_t dfselect, gfselect;
        uint64_t driver_features;
        uint8_t status, config_generation, isr;
        uint16_t queue_select, num_queues;
        Virtqueue queues[VIRTIO_PCI_MAX_QUEUES];

        uint8_t pci_cfg_cap; /* config offset of the PCI_CFG capability */
};

static uint64_t get_le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

static void put_le(uint8_t *p, unsigned n, uint64_t v)
{
        for (unsigned i = 0; i < n; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

void virtio_pci_lock(VirtioPci *vp)
{
        pthread_mutex_lock(&vp->lock);
}

void virtio_pci_unlock(VirtioPci *vp)
{
        pthread_mutex_unlock(&vp->lock);
}

PciDevice *virtio_pci_pci_device(VirtioPci *vp)
{
        return &vp->pci;
}

Virtqueue *virtio_pci_queue(VirtioPci *vp, unsigned q)
{
        return q < vp->num_queues ? &vp->queues[q] : NULL;
}

bool virtio_pci_needs_reset(VirtioPci *vp)
{
        return vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

bool virtio_pci_driver_ok(VirtioPci *vp)
{
        return (vp->status & VIRTIO_STATUS_DRIVER_OK) && !virtio_pci_needs_reset(vp);
}

uint8_t virtio_pci_status(VirtioPci *vp)
{
        return vp->status;
}

bool virtio_pci_feature_negotiated(VirtioPci *vp, unsigned bit)
{
        return bit < 64 && (vp->status & VIRTIO_STATUS_FEATURES_OK) && (vp->driver_features >> bit & 1);
}

bool virtio_pci_queue_ready(VirtioPci *vp, unsigned q)
{
        return q < vp->num_queues && vp->queues[q].enabled && (vp->status & VIRTIO_STATUS_FEATURES_OK) &&
               !virtio_pci_needs_reset(vp);
}

static void raise_isr(VirtioPci *vp, uint8_t bits)
{
        vp->isr |= bits;
        pci_device_set_intx(&vp->pci, true);
}

void virtio_pci_queue_interrupt(VirtioPci *vp, unsigned q)
{
        if (q < vp->num_queues && virtq_should_interrupt(&vp->queues[q]))
                raise_isr(vp, VIRTIO_ISR_QUEUE);
}

void virtio_pci_config_changed(VirtioPci *vp)
{
        vp->config_generation++;
        if (vp->status & VIRTIO_STATUS_DRIVER_OK)
                raise_isr(vp, VIRTIO_ISR_CONFIG);
}

void virtio_pci_device_error(VirtioPci *vp, const char *reason)
{
        if (virtio_pci_needs_reset(vp))
                return;
        vp->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
        /* Stop using the rings: the driver must reset the device before it works again (§2.1.2). */
        for (unsigned q = 0; q < vp->num_queues; q++)
                vp->queues[q].enabled = false;
        vp->config_generation++;
        raise_isr(vp, VIRTIO_ISR_CONFIG);
        if (vp->needs_reset)
                vp->needs_reset(vp->needs_reset_opaque, vp->name, reason);
}

static void device_reset(VirtioPci *vp)
{
        vp->dfselect = vp->gfselect = 0;
        vp->driver_features = 0;
        vp->status = 0;
        vp->queue_select = 0;
        for (unsigned q = 0; q < vp->num_queues; q++)
                virtq_reset(&vp->queues[q]);
        vp->isr = 0;
        pci_device_set_intx(&vp->pci, false);
        if (vp->ops && vp->ops->reset)
                vp->ops->reset(vp->dev);
}

/* --- common configuration ----------------------------------------------------------------- */

static void common_serialize(VirtioPci *vp, uint8_t *b)
{
        memset(b, 0, VIRTIO_PCI_COMMON_SIZE);
        put_le(b + VIRTIO_PCI_COMMON_DFSELECT, 4, vp->dfselect);
        put_le(b + VIRTIO_PCI_COMMON_DF, 4, vp->dfselect < 2 ? vp->device_features >> (32 * vp->dfselect) : 0);
        put_le(b + VIRTIO_PCI_COMMON_GFSELECT, 4, vp->gfselect);
        put_le(b + VIRTIO_PCI_COMMON_GF, 4, vp->gfselect < 2 ? vp->driver_features >> (32 * vp->gfselect) : 0);
        put_le(b + VIRTIO_PCI_COMMON_MSIX, 2, VIRTIO_MSI_NO_VECTOR);
        put_le(b + VIRTIO_PCI_COMMON_NUMQ, 2, vp->num_queues);
        b[VIRTIO_PCI_COMMON_STATUS] = vp->status;
        b[VIRTIO_PCI_COMMON_CFGGENERATION] = vp->config_generation;
        put_le(b + VIRTIO_PCI_COMMON_Q_SELECT, 2, vp->queue_select);
        Virtqueue *q = virtio_pci_queue(vp, vp->queue_select);
        put_le(b + VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_MSI_NO_VECTOR);
        if (!q)
                return; /* queue_size 0: not available (§4.1.4.3) */
        put_le(b + VIRTIO_PCI_COMMON_Q_SIZE, 2, q->size);
        put_le(b + VIRTIO_PCI_COMMON_Q_ENABLE, 2, q->enabled);
        put_le(b + VIRTIO_PCI_COMMON_Q_NOFF, 2, vp->queue_select);
        put_le(b + VIRTIO_PCI_COMMON_Q_DESC, 8, q->desc_gpa);
        put_le(b + VIRTIO_PCI_COMMON_Q_DRIVER, 8, q->avail_gpa);
        put_le(b + VIRTIO_PCI_COMMON_Q_DEVICE, 8, q->used_gpa);
}

static void write_status(VirtioPci *vp, uint8_t v)
{
        if (v == 0) {
                device_reset(vp);
                return;
        }
        uint8_t old = vp->status;
        /* NEEDS_RESET is the device's to set; the driver cannot clear or set it. */
        uint8_t neu = (uint8_t)((v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET));

        if ((neu & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
                /* §2.2.2 / §6.1: accept only a subset of what we offer, and VERSION_1 is mandatory
                 * on a modern-only device; otherwise FEATURES_OK does not stick. */
                bool ok = !(vp->driver_features & ~vp->device_features) &&
                          (vp->driver_features >> VIRTIO_F_VERSION_1 & 1);
                if (!ok)
                        neu &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        }
        if ((neu & VIRTIO_STATUS_DRIVER_OK) && !(neu & VIRTIO_STATUS_FEATURES_OK))
                neu &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;

        vp->status = neu;
        if ((neu & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) && !virtio_pci_needs_reset(vp) &&
            vp->ops && vp->ops->driver_ok)
                vp->ops->driver_ok(vp->dev);
}

static void queue_enable(VirtioPci *vp, Virtqueue *q, uint16_t v)
{
        if (v != 1 || q->enabled || virtio_pci_needs_reset(vp))
                return; /* §4.1.4.3.2: the driver only ever writes 1; disabling needs a reset */
        const char *reason = NULL;
        if (virtq_enable(q, vp->mem, &reason) < 0)
                virtio_pci_device_error(vp, reason);
}

static void common_apply(VirtioPci *vp, const uint8_t *b, unsigned field)
{
        Virtqueue *q = virtio_pci_queue(vp, vp->queue_select);
        bool features_locked = vp->status & VIRTIO_STATUS_FEATURES_OK;

        switch (field) {
        case VIRTIO_PCI_COMMON_DFSELECT:
                vp->dfselect = (uint32_t)get_le(b + field, 4);
                break;
        case VIRTIO_PCI_COMMON_GFSELECT:
                vp->gfselect = (uint32_t)get_le(b + field, 4);
                break;
        case VIRTIO_PCI_COMMON_GF:
                if (features_locked || vp->gfselect >= 2)
                        break;
                unsigned shift = 32 * vp->gfselect;
                vp->driver_features = (vp->driver_features & ~(UINT64_C(0xffffffff) << shift)) |
                                      get_le(b + field, 4) << shift;
                break;
        case VIRTIO_PCI_COMMON_STATUS:
                write_status(vp, b[field]);
                break;
        case VIRTIO_PCI_COMMON_Q_SELECT:
                vp->queue_select = (uint16_t)get_le(b + field, 2);
                break;
        case VIRTIO_PCI_COMMON_Q_SIZE:
                if (q && !q->enabled)
                        q->size = (uint16_t)get_le(b + field, 2); /* checked at enable */
                break;
        case VIRTIO_PCI_COMMON_Q_ENABLE:
                if (q)
                        queue_enable(vp, q, (uint16_t)get_le(b + field, 2));
                break;
        case VIRTIO_PCI_COMMON_Q_DESC:
                if (q && !q->enabled)
                        q->desc_gpa = get_le(b + field, 8);
                break;
        case VIRTIO_PCI_COMMON_Q_DRIVER:
                if (q && !q->enabled)
                        q->avail_gpa = get_le(b + field, 8);
                break;
        case VIRTIO_PCI_COMMON_Q_DEVICE:
                if (q && !q->enabled)
                        q->used_gpa = get_le(b + field, 8);
                break;
        default: /* read-only: device_feature, msix (no MSI-X), num_queues, generation, notify_off */
                break;
        }
}

static const struct {
        uint8_t off, len;
} common_fields[] = {
        { VIRTIO_PCI_COMMON_DFSELECT, 4 }, { VIRTIO_PCI_COMMON_DF, 4 },       { VIRTIO_PCI_COMMON_GFSELECT, 4 },
        { VIRTIO_PCI_COMMON_GF, 4 },       { VIRTIO_PCI_COMMON_MSIX, 2 },     { VIRTIO_PCI_COMMON_NUMQ, 2 },
        { VIRTIO_PCI_COMMON_STATUS, 1 },   { VIRTIO_PCI_COMMON_CFGGENERATION, 1 },
        { VIRTIO_PCI_COMMON_Q_SELECT, 2 }, { VIRTIO_PCI_COMMON_Q_SIZE, 2 },   { VIRTIO_PCI_COMMON_Q_MSIX, 2 },
        { VIRTIO_PCI_COMMON_Q_ENABLE, 2 }, { VIRTIO_PCI_COMMON_Q_NOFF, 2 },   { VIRTIO_PCI_COMMON_Q_DESC, 8 },
        { VIRTIO_PCI_COMMON_Q_DRIVER, 8 }, { VIRTIO_PCI_COMMON_Q_DEVICE, 8 },
};

/* A write of any width lands in a serialised image of the structure; every field it touched is
 * then applied from the image, so that 32-bit halves of the 64-bit addresses work, as do narrow
 * or wide accesses a sloppy driver might make. */
static void common_write(VirtioPci *vp, uint64_t off, const uint8_t *data, uint32_t len)
{
        if (off >= VIRTIO_PCI_COMMON_SIZE)
                return;
        len = (uint32_t)MIN((uint64_t)len, VIRTIO_PCI_COMMON_SIZE - off);
        uint8_t b[VIRTIO_PCI_COMMON_SIZE];
        common_serialize(vp, b);
        memcpy(b + off, data, len);
        for (size_t i = 0; i < ELEMENTSOF(common_fields); i++) {
                unsigned f = common_fields[i].off, fl = common_fields[i].len;
                if (off < f + fl && off + len > f)
                        common_apply(vp, b, f);
        }
}

static void common_read(VirtioPci *vp, uint64_t off, uint8_t *data, uint32_t len)
{
        uint8_t b[VIRTIO_PCI_COMMON_SIZE];
        if (off >= VIRTIO_PCI_COMMON_SIZE) {
                memset(data, 0, len);
                return;
        }
        common_serialize(vp, b);
        uint32_t n = (uint32_t)MIN((uint64_t)len, VIRTIO_PCI_COMMON_SIZE - off);
        memcpy(data, b + off, n);
        memset(data + n, 0, len - n);
}

/* --- BAR ----------------------------------------------------------------------------------- */

static void bar_read_locked(VirtioPci *vp, uint64_t off, uint8_t *data, uint32_t len)
{
        memset(data, 0, len);
        if (off >= VIRTIO_PCI_BAR_SIZE)
                return;
        len = (uint32_t)MIN((uint64_t)len, VIRTIO_PCI_BAR_SIZE - off);
        if (off < VIRTIO_PCI_ISR_OFFSET)
                common_read(vp, off - VIRTIO_PCI_COMMON_OFFSET, data, len);
        else if (off < VIRTIO_PCI_DEVICE_OFFSET) {
                /* §4.1.4.5: reading the ISR clears it and de-asserts INTx. */
                if (off == VIRTIO_PCI_ISR_OFFSET) {
                        data[0] = vp->isr;
                        vp->isr = 0;
                        pci_device_set_intx(&vp->pci, false);
                }
        } else if (off < VIRTIO_PCI_NOTIFY_OFFSET) {
                uint64_t o = off - VIRTIO_PCI_DEVICE_OFFSET;
                if (o < vp->config_size && vp->ops && vp->ops->config_read)
                        vp->ops->config_read(vp->dev, (uint32_t)o, data,
                                             (uint32_t)MIN((uint64_t)len, vp->config_size - o));
        }
        /* Notification area reads as zero. */
}

static void bar_write_locked(VirtioPci *vp, uint64_t off, const uint8_t *data, uint32_t len)
{
        if (off >= VIRTIO_PCI_BAR_SIZE)
                return;
        len = (uint32_t)MIN((uint64_t)len, VIRTIO_PCI_BAR_SIZE - off);
        if (off < VIRTIO_PCI_ISR_OFFSET)
                common_write(vp, off - VIRTIO_PCI_COMMON_OFFSET, data, len);
        else if (off < VIRTIO_PCI_DEVICE_OFFSET)
                return; /* ISR is read-only */
        else if (off < VIRTIO_PCI_NOTIFY_OFFSET) {
                uint64_t o = off - VIRTIO_PCI_DEVICE_OFFSET;
                if (o < vp->config_size && vp->ops && vp->ops->config_write)
                        vp->ops->config_write(vp->dev, (uint32_t)o, data,
                                              (uint32_t)MIN((uint64_t)len, vp->config_size - o));
        } else {
                /* The written value is the queue index too; the address alone decides (§4.1.4.4). */
                uint64_t o = off - VIRTIO_PCI_NOTIFY_OFFSET;
                if (o % VIRTIO_PCI_NOTIFY_MULTIPLIER)
                        return;
                unsigned q = (unsigned)(o / VIRTIO_PCI_NOTIFY_MULTIPLIER);
                if (virtio_pci_queue_ready(vp, q) && vp->ops && vp->ops->queue_notify)
                        vp->ops->queue_notify(vp->dev, q);
        }
}

void virtio_pci_bar_read(VirtioPci *vp, uint64_t off, uint8_t *data, uint32_t len)
{
        virtio_pci_lock(vp);
        bar_read_locked(vp, off, data, len);
        virtio_pci_unlock(vp);
}

void virtio_pci_bar_write(VirtioPci *vp, uint64_t off, const uint8_t *data, uint32_t len)
{
        virtio_pci_lock(vp);
        bar_write_locked(vp, off, data, len);
        virtio_pci_unlock(vp);
}

static void bus_bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        virtio_pci_bar_read(opaque, off, data, len);
}

static void bus_bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        virtio_pci_bar_write(opaque, off, data, len);
}

static const BusOps bar_ops = { .read = bus_bar_read, .write = bus_bar_write };

/* --- VIRTIO_PCI_CAP_PCI_CFG: a window onto the BAR through config space (§4.1.4.7) ---------- */

static bool pci_cfg_window(VirtioPci *vp, unsigned off, unsigned len, uint64_t *ret_bar_off, uint32_t *ret_len)
{
        unsigned c = vp->pci_cfg_cap, data = c + CAP_LEN;
        if (!c || off + len <= data || off >= data + 4)
                return false;
        const uint8_t *cfg = vp->pci.config;
        uint32_t bar_off = (uint32_t)get_le(cfg + c + 8, 4), n = (uint32_t)get_le(cfg + c + 12, 4);
        if (cfg[c + 4] != VIRTIO_PCI_BAR || (n != 1 && n != 2 && n != 4) || bar_off % n ||
            (uint64_t)bar_off + n > VIRTIO_PCI_BAR_SIZE)
                return false;
        *ret_bar_off = bar_off;
        *ret_len = n;
        return true;
}

static void pci_config_read_hook(PciDevice *d, unsigned off, unsigned len)
{
        VirtioPci *vp = d->userdata;
        uint64_t bar_off;
        uint32_t n;
        if (!pci_cfg_window(vp, off, len, &bar_off, &n))
                return;
        uint8_t buf[4] = {};
        virtio_pci_bar_read(vp, bar_off, buf, n);
        memcpy(d->config + vp->pci_cfg_cap + CAP_LEN, buf, 4);
}

static void pci_config_write_hook(PciDevice *d, unsigned off, unsigned len)
{
        VirtioPci *vp = d->userdata;
        uint64_t bar_off;
        uint32_t n;
        if (!pci_cfg_window(vp, off, len, &bar_off, &n))
                return;
        virtio_pci_bar_write(vp, bar_off, d->config + vp->pci_cfg_cap + CAP_LEN, n);
}

static const PciDeviceOps pci_ops = { .config_read = pci_config_read_hook, .config_write = pci_config_write_hook };

static int add_cap(VirtioPci *vp, uint8_t type, uint32_t offset, uint32_t length, uint32_t extra,
                   uint8_t *ret_off)
{
        uint8_t cap[20] = {}, wmask[20] = {};
        uint8_t len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? NOTIFY_CAP_LEN :
                      type == VIRTIO_PCI_CAP_PCI_CFG    ? PCI_CFG_CAP_LEN :
                                                          CAP_LEN;
        cap[0] = PCI_CAP_ID_VNDR;
        cap[2] = len;
        cap[3] = type;
        cap[4] = VIRTIO_PCI_BAR;
        put_le(cap + 8, 4, offset);
        put_le(cap + 12, 4, length);
        if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
                put_le(cap + 16, 4, extra);
        if (type == VIRTIO_PCI_CAP_PCI_CFG) {
                wmask[4] = 0xff;                    /* bar */
                memset(wmask + 8, 0xff, 4 + 4 + 4); /* offset, length, pci_cfg_data */
        }
        return pci_device_add_capability(&vp->pci, cap, len, wmask, ret_off);
}

int virtio_pci_new(const VirtioPciConfig *cfg, VirtioPci **ret)
{
        if (!cfg || !cfg->mem || cfg->num_queues == 0 || cfg->num_queues > VIRTIO_PCI_MAX_QUEUES ||
            !cfg->queue_max || cfg->config_size > VIRTIO_PCI_MAX_DEVICE_CONFIG || cfg->device_type >= 0x40 ||
            (cfg->features >> VIRTIO_F_VERSION_1 & 1))
                return -EINVAL;

        VirtioPci *vp = calloc(1, sizeof(*vp));
        if (!vp)
                return -ENOMEM;
        pthread_mutex_init(&vp->lock, NULL);
        /* §4.1.2: modern-only device, id 0x1040 + type, revision >= 1. The subsystem id repeats
         * the type, as kvmtool does, for tools that look there. */
        pci_device_init(&vp->pci,
                        &(PciDeviceInfo){ .vendor_id = VIRTIO_PCI_VENDOR_ID,
                                          .device_id = (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + cfg->device_type),
                                          .subsystem_vendor_id = VIRTIO_PCI_VENDOR_ID,
                                          .subsystem_id = cfg->device_type,
                                          .revision = VIRTIO_PCI_REVISION,
                                          .class_code = cfg->class_code,
                                          .interrupt_pin = 1 },
                        &pci_ops, vp);
        vp->name = strdup(cfg->name ?: "virtio");
        vp->device_features = cfg->features | UINT64_C(1) << VIRTIO_F_VERSION_1;
        vp->ops = cfg->ops;
        vp->dev = cfg->dev;
        vp->mem = cfg->mem;
        vp->needs_reset = cfg->needs_reset;
        vp->needs_reset_opaque = cfg->needs_reset_opaque;
        vp->config_size = cfg->config_size;
        int r = vp->name ? 0 : -ENOMEM;
        for (unsigned q = 0; r >= 0 && q < cfg->num_queues; q++) {
                r = virtq_init(&vp->queues[q], cfg->queue_max[q]);
                if (r >= 0)
                        vp->num_queues = (uint16_t)(q + 1);
        }
        if (r >= 0)
                r = pci_device_add_mem_bar(&vp->pci, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE, false, &bar_ops, vp);
        if (r >= 0)
                r = add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFFSET, VIRTIO_PCI_COMMON_SIZE, 0, NULL);
        if (r >= 0)
                r = add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFFSET,
                            vp->num_queues * VIRTIO_PCI_NOTIFY_MULTIPLIER, VIRTIO_PCI_NOTIFY_MULTIPLIER, NULL);
        if (r >= 0)
                r = add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFFSET, 1, 0, NULL);
        if (r >= 0 && cfg->config_size)
                r = add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFFSET, cfg->config_size, 0, NULL);
        if (r >= 0)
                r = add_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, &vp->pci_cfg_cap);
        if (r < 0) {
                virtio_pci_free(vp);
                return r;
        }
        *ret = vp;
        return 0;
}

VirtioPci *virtio_pci_free(VirtioPci *vp)
{
        if (!vp)
                return NULL;
        for (unsigned q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
                virtq_done(&vp->queues[q]);
        pci_device_done(&vp->pci);
        pthread_mutex_destroy(&vp->lock);
        free(vp->name);
        free(vp);
        return NULL;
}
