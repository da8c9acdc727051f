/* The guarded read-only file driver: see include/ckpt_hdf5_guard.h for why it exists. */
#define _GNU_SOURCE
#include "ckpt_hdf5_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest file offset pread can take. */
#define GUARD_MAX_ADDR ((haddr_t)INT64_MAX)
/* Largest single pread; longer reads loop (Linux returns at most about 2 GiB per call anyway). */
#define GUARD_MAX_PREAD ((size_t)1 << 30)

typedef struct {
    H5FD_t pub; /* must come first: libhdf5 sees only this part */
    int fd;
    haddr_t eoa;
    haddr_t eof;
    dev_t device;
    ino_t inode;
    unsigned length_width; /* sizeof_size of the superblock; 0 until told (then 8 is assumed) */
} guard_file_t;

/* Puts a message on libhdf5's error stack, where the caller's `H5Ewalk2` finds it first. */
#define GUARD_ERROR(function, minor, ...)                                                                   \
    H5Epush2(H5E_DEFAULT, __FILE__, function, __LINE__, H5E_ERR_CLS, H5E_VFL, minor, __VA_ARGS__)

static uint64_t decode_length(const unsigned char *bytes, unsigned width) {
    uint64_t value = 0;
    for (unsigned index = width; index > 0; index--) value = (value << 8) | bytes[index - 1];
    return value;
}

int ckpt_guard_check_collection(const unsigned char *collection, size_t count, unsigned width,
                                char *reason, size_t reason_size) {
    if (width != 2 && width != 4 && width != 8) {
        snprintf(reason, reason_size, "lengths %u bytes wide (libhdf5 reads 2, 4 or 8)", width);
        return -1;
    }
    /* "GCOL", version, 3 reserved bytes, collection size; each object: index (2 bytes),
       reference count (2), reserved (4), size; data padded to 8 bytes (HDF5 spec III.E). */
    const uint64_t header_size = 8 + width;
    const uint64_t object_header_size = 8 + width;
    if (count < header_size) {
        snprintf(reason, reason_size, "only %zu bytes, shorter than its own header", count);
        return -1;
    }
    const uint64_t size = decode_length(collection + 8, width);
    if (size < header_size) {
        snprintf(reason, reason_size, "declares %llu bytes, less than its own header", (unsigned long long)size);
        return -1;
    }
    if (size > count) {
        snprintf(reason, reason_size, "declares %llu bytes but only %zu were read", (unsigned long long)size, count);
        return -1;
    }
    /* The same walk as libhdf5 1.10's H5HG__cache_heap_deserialize, in exact arithmetic. */
    uint64_t position = header_size;
    while (position < size) {
        const uint64_t room = size - position;
        if (room < object_header_size) break; /* a tail too small for an object is free space */
        const unsigned index = (unsigned)collection[position] | ((unsigned)collection[position + 1] << 8);
        const uint64_t object_size = decode_length(collection + position + 8, width);
        uint64_t need;
        if (index > 0) {
            if (object_size > room - object_header_size) {
                snprintf(reason, reason_size,
                         "object %u at offset %llu claims %llu bytes, past the end of the %llu-byte collection",
                         index, (unsigned long long)position, (unsigned long long)object_size,
                         (unsigned long long)size);
                return -1;
            }
            need = object_header_size + ((object_size + 7) / 8) * 8;
        } else {
            if (object_size == 0) {
                snprintf(reason, reason_size,
                         "free space at offset %llu has size 0 (libhdf5 1.10 would loop on it forever)",
                         (unsigned long long)position);
                return -1;
            }
            if (object_size > room) {
                snprintf(reason, reason_size,
                         "free space at offset %llu claims %llu bytes, past the end of the %llu-byte collection",
                         (unsigned long long)position, (unsigned long long)object_size, (unsigned long long)size);
                return -1;
            }
            need = object_size;
        }
        if (need > room) break; /* padding past the end: libhdf5 stops here too */
        position += need;
    }
    return 0;
}

/* Reads `size` bytes at `offset`; past the end of the file reads zeros, as the sec2 driver does. */
static int read_fully(int fd, unsigned char *buffer, size_t size, uint64_t offset, const char *function) {
    while (size > 0) {
        const size_t chunk = size < GUARD_MAX_PREAD ? size : GUARD_MAX_PREAD;
        const ssize_t count = pread(fd, buffer, chunk, (off_t)offset);
        if (count < 0) {
            if (errno == EINTR) continue;
            GUARD_ERROR(function, H5E_READERROR, "read failed at byte %llu: %s", (unsigned long long)offset,
                        strerror(errno));
            return -1;
        }
        if (count == 0) {
            memset(buffer, 0, size);
            return 0;
        }
        buffer += count;
        size -= (size_t)count;
        offset += (uint64_t)count;
    }
    return 0;
}

/* Checks a read that starts with a global heap collection's signature. The first read of a
   collection is libhdf5's 4 KB guess; when the collection is longer, all of it is read here so
   the walk sees every object (libhdf5 then reads only the rest, which has no signature). */
static int check_heap_read(guard_file_t *file, haddr_t address, const unsigned char *bytes, size_t size) {
    const unsigned width = file->length_width ? file->length_width : 8;
    if (size < 8 + (size_t)width || bytes[4] != 1) return 0; /* libhdf5 refuses what it cannot decode */
    const uint64_t declared = decode_length(bytes + 8, width);
    char reason[256];
    int status;
    if (declared <= size) {
        status = ckpt_guard_check_collection(bytes, size, width, reason, sizeof reason);
    } else {
        if (address >= file->eof || declared > file->eof - address) return 0; /* libhdf5 refuses the read past the end */
        unsigned char *whole = malloc((size_t)declared);
        if (whole == NULL) {
            GUARD_ERROR("ckpt_guard_read", H5E_CANTALLOC,
                        "global heap collection at byte %llu declares %llu bytes, more than can be allocated",
                        (unsigned long long)address, (unsigned long long)declared);
            return -1;
        }
        if (read_fully(file->fd, whole, (size_t)declared, address, "ckpt_guard_read") < 0) {
            free(whole);
            return -1;
        }
        status = ckpt_guard_check_collection(whole, (size_t)declared, width, reason, sizeof reason);
        free(whole);
    }
    if (status < 0) {
        GUARD_ERROR("ckpt_guard_read", H5E_BADVALUE, "malformed global heap collection at byte %llu: %s",
                    (unsigned long long)address, reason);
        return -1;
    }
    return 0;
}

static H5FD_t *guard_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr) {
    (void)fapl;
    if (flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT | H5F_ACC_EXCL)) {
        GUARD_ERROR("ckpt_guard_open", H5E_CANTOPENFILE, "the guarded driver opens files read-only");
        return NULL;
    }
    if (name == NULL || *name == '\0' || maxaddr == 0 || maxaddr == HADDR_UNDEF) {
        GUARD_ERROR("ckpt_guard_open", H5E_BADVALUE, "invalid file name or address limit");
        return NULL;
    }
    const int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        GUARD_ERROR("ckpt_guard_open", H5E_CANTOPENFILE, "unable to open file: name = '%s', errno = %d, error message = '%s'",
                    name, errno, strerror(errno));
        return NULL;
    }
    struct stat status;
    if (fstat(fd, &status) < 0) {
        GUARD_ERROR("ckpt_guard_open", H5E_CANTGET, "unable to fstat file: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    guard_file_t *file = calloc(1, sizeof *file);
    if (file == NULL) {
        GUARD_ERROR("ckpt_guard_open", H5E_CANTALLOC, "unable to allocate the file struct");
        close(fd);
        return NULL;
    }
    file->fd = fd;
    file->eof = (haddr_t)status.st_size;
    file->device = status.st_dev;
    file->inode = status.st_ino;
    return &file->pub;
}

static herr_t guard_close(H5FD_t *_file) {
    guard_file_t *file = (guard_file_t *)_file;
    const int status = close(file->fd);
    free(file);
    if (status < 0) {
        GUARD_ERROR("ckpt_guard_close", H5E_CANTCLOSEFILE, "unable to close file: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int guard_compare(const H5FD_t *_first, const H5FD_t *_second) {
    const guard_file_t *first = (const guard_file_t *)_first;
    const guard_file_t *second = (const guard_file_t *)_second;
    if (first->device != second->device) return first->device < second->device ? -1 : 1;
    if (first->inode != second->inode) return first->inode < second->inode ? -1 : 1;
    return 0;
}

/* Data sieving only. No metadata accumulation: it would merge a collection's read with its
   neighbours' and the check would no longer see where the collection starts. */
static herr_t guard_query(const H5FD_t *file, unsigned long *flags) {
    (void)file;
    *flags = H5FD_FEAT_DATA_SIEVE;
    return 0;
}

static haddr_t guard_get_eoa(const H5FD_t *file, H5FD_mem_t type) {
    (void)type;
    return ((const guard_file_t *)file)->eoa;
}

static herr_t guard_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t address) {
    (void)type;
    ((guard_file_t *)file)->eoa = address;
    return 0;
}

static haddr_t guard_get_eof(const H5FD_t *file, H5FD_mem_t type) {
    (void)type;
    return ((const guard_file_t *)file)->eof;
}

static herr_t guard_get_handle(H5FD_t *file, hid_t fapl, void **handle) {
    (void)fapl;
    *handle = file;
    return 0;
}

static herr_t guard_read(H5FD_t *_file, H5FD_mem_t type, hid_t dxpl, haddr_t address, size_t size, void *buffer) {
    (void)type;
    (void)dxpl;
    guard_file_t *file = (guard_file_t *)_file;
    if (address == HADDR_UNDEF || address > GUARD_MAX_ADDR || size > GUARD_MAX_ADDR - address) {
        GUARD_ERROR("ckpt_guard_read", H5E_OVERFLOW, "read of %zu bytes at byte %llu is past any file", size,
                    (unsigned long long)address);
        return -1;
    }
    if (read_fully(file->fd, buffer, size, address, "ckpt_guard_read") < 0) return -1;
    /* Global heap collections are read as raw data; whatever the type, a read that starts with
       the signature is a collection being loaded. */
    if (size >= 4 && memcmp(buffer, "GCOL", 4) == 0) return check_heap_read(file, address, buffer, size);
    return 0;
}

static herr_t guard_write(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t address, size_t size, const void *buffer) {
    (void)file, (void)type, (void)dxpl, (void)address, (void)size, (void)buffer;
    GUARD_ERROR("ckpt_guard_write", H5E_WRITEERROR, "the guarded driver is read-only");
    return -1;
}

static const H5FD_class_t guard_class = {
    .name = "ckpt_guarded_sec2",
    .maxaddr = GUARD_MAX_ADDR,
    .fc_degree = H5F_CLOSE_WEAK,
    .open = guard_open,
    .close = guard_close,
    .cmp = guard_compare,
    .query = guard_query,
    .get_eoa = guard_get_eoa,
    .set_eoa = guard_set_eoa,
    .get_eof = guard_get_eof,
    .get_handle = guard_get_handle,
    .read = guard_read,
    .write = guard_write,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

static hid_t registered_driver = -1;
static pthread_once_t registration = PTHREAD_ONCE_INIT;

static void register_driver(void) { registered_driver = H5FDregister(&guard_class); }

hid_t ckpt_guard_driver(void) {
    pthread_once(&registration, register_driver);
    return registered_driver;
}

herr_t ckpt_guard_set_length_width(hid_t file, unsigned width) {
    const hid_t access = H5Fget_access_plist(file);
    if (access < 0) return -1;
    const hid_t driver = H5Pget_driver(access);
    H5Pclose(access);
    if (driver < 0 || driver != ckpt_guard_driver()) return -1;
    void *handle = NULL;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || handle == NULL) return -1;
    ((guard_file_t *)handle)->length_width = width;
    return 0;
}
