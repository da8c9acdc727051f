/// Keras 3 variables named after the parameters they hold.
extension HDF5File {
    /// The datasets of a Keras 3 `.weights.h5` with each recognised variable renamed to the
    /// Hugging Face-style name ``Keras3Names`` gives it (the dataset path is kept for reading and
    /// writing); unrecognised ones keep their paths. Were two variables to get one name, none is
    /// renamed: a stored path is never wrong, a shared name would be.
    static func namingKeras3Variables(_ datasets: [Entry]) -> [Entry] {
        let resolution = Keras3Names.resolve(datasets.map(\.info))
        let given = resolution.names.compactMap { $0 }
        guard Set(given).count == given.count else { return datasets }
        var renamed = datasets
        for (index, name) in resolution.names.enumerated() {
            guard let name else { continue }
            renamed[index].dataset = renamed[index].info.name
            renamed[index].info.name = name
        }
        return renamed
    }
}
