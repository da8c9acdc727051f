/// What an object opened through a hard link is.
enum HDF5ObjectType { case group, dataset, namedDatatype, other }
