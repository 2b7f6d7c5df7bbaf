import Forge
import Foundation

/// The catalog the compatibility-API fuzz targets read requests against:
/// one runtime, as the built-in catalog would list it.
let fuzzCatalog = try? RuntimeCatalog.decode(Data(
    #"{"runtimes":[{"language":"python","version":"3.11","source_file":"main.py","extension":"py","package":"p","run":{"argv":["/usr/bin/python3","{main}"],"env":[],"mounts":[]}}]}"#.utf8))
