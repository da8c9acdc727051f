#ifndef CKPT_HDF5_GUARD_H
#define CKPT_HDF5_GUARD_H
#include <hdf5.h>

/* A read-only libhdf5 file driver ("virtual file driver") that reads with pread, as the default
   sec2 driver does, and checks every global heap collection libhdf5 loads before handing it over.

   Why: libhdf5 1.10 walks the objects of a global heap collection (where variable-length strings
   live) trusting each object's stored size. An object of size 0 makes that walk loop forever, and a
   size that runs past the collection makes it, or the later copy of the string, read outside the
   collection. Such files hang or crash `h5dump` as much as `ckpt`. The driver refuses the read
   instead, with an error on libhdf5's error stack that names the collection's byte offset; the
   libhdf5 call in progress (`H5Aread`, usually) then fails cleanly. */

/* The driver's identifier, registered with libhdf5 on first use; negative if registering failed.
   Call it under the same lock as every other libhdf5 call. */
hid_t ckpt_guard_driver(void);

/* Tells the driver behind `file` (opened through a file access list that selects
   `ckpt_guard_driver()`) how wide the file's stored lengths are (`sizeof_size` of its superblock:
   2, 4 or 8 bytes), which fixes the layout of its heap collections. Until told, 8 is assumed
   (what every writer uses). Returns a negative value if `file` is not open through this driver. */
herr_t ckpt_guard_set_length_width(hid_t file, unsigned width);

/* Checks the global heap collection at the start of the `count` bytes `collection` ("GCOL",
   version, reserved, size, objects; bytes past the size it declares are ignored), with lengths
   `width` bytes wide. Returns 0 when libhdf5 1.10 can walk it safely, or writes a one-line reason
   (NUL-terminated, at most `reason_size` bytes) and returns -1. */
int ckpt_guard_check_collection(const unsigned char *collection, size_t count, unsigned width,
                                char *reason, size_t reason_size);

#endif
