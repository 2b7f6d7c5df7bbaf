import Foundation

// Stands in for the accessor SwiftPM generates for a target with resources,
// when a fuzz target builds a module from a few of its sources.
extension Bundle {
    static var module: Bundle { .main }
}
