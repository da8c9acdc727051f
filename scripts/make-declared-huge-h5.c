/* Writes fixtures/bad/declared-huge.h5: one chunked 65536x65536 float32 dataset (16 GiB declared)
 * with no chunk written, so the file is 1.4 KB. Build: cc make-declared-huge-h5.c $(pkg-config --cflags --libs hdf5) */
#include <hdf5.h>
int main(int argc, char **argv) {
    hid_t f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {65536, 65536}, chunk[2] = {256, 256};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(plist, 2, chunk);
    hid_t d = H5Dcreate2(f, "kernel", H5T_IEEE_F32LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    H5Dclose(d); H5Pclose(plist); H5Sclose(space); H5Fclose(f);
    return 0;
}
