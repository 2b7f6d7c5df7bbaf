@testable import Forge
import Foundation
import Testing

@Suite("Sandbox limits")
struct LimitPolicyTests {
    @Test("the defaults are the requirements': half a core, 512 MiB, 100 PIDs, 10 MB/s")
    func defaults() throws {
        let limits = try LimitPolicy().resolve(LimitRequest())
        #expect(limits.cpuPercent == 50)
        #expect(limits.memoryMiB == 512)
        #expect(limits.pids == 100)
        #expect(limits.ioBytesPerSecond == 10_000_000)
    }

    @Test("a request may lower any limit")
    func lowering() throws {
        let limits = try LimitPolicy().resolve(LimitRequest(memoryMiB: 64, pids: 8, cpuMilliseconds: 100, wallMilliseconds: 200, outputBytes: 10))
        #expect(limits.memoryMiB == 64)
        #expect(limits.pids == 8)
        #expect(limits.cpuMilliseconds == 100)
        #expect(limits.wallMilliseconds == 200)
        #expect(limits.outputBytes == 10)
        #expect(limits.openFiles == SandboxLimits.defaults.openFiles)
    }

    @Test("raising is allowed up to the operator maximum and refused beyond it")
    func raising() throws {
        var maxima = SandboxLimits.defaults
        maxima.memoryMiB = 768
        let policy = LimitPolicy(defaults: .defaults, maxima: maxima)
        #expect(try policy.resolve(LimitRequest(memoryMiB: 768)).memoryMiB == 768)
        let error = #expect(throws: ForgeError.limitAboveMaximum) { try policy.resolve(LimitRequest(memoryMiB: 769)) }
        #expect(error?.reason == "limit memory_mib may be at most 768")
        #expect(throws: ForgeError.limitAboveMaximum) { try policy.resolve(LimitRequest(pids: 101)) }
    }

    @Test("zero and negative limits are refused", arguments: [0, -1, Int.min])
    func nonPositive(_ value: Int) {
        #expect(throws: ForgeError.invalidLimit) { try LimitPolicy().resolve(LimitRequest(wallMilliseconds: value)) }
        #expect(throws: ForgeError.invalidLimit) { try LimitPolicy().resolve(LimitRequest(memoryMiB: value)) }
    }

    @Test("limits and verdicts use the API's names on the wire")
    func wireNames() throws {
        let request = try JSONDecoder().decode(LimitRequest.self, from: Data(#"{"memory_mib": 128, "wall_ms": 500}"#.utf8))
        #expect(request == LimitRequest(memoryMiB: 128, wallMilliseconds: 500))
        let merged = LimitRequest(memoryMiB: 1024, pids: 128, wallMilliseconds: 60_000).overridden(by: request)
        #expect(merged == LimitRequest(memoryMiB: 128, pids: 128, wallMilliseconds: 500), "the request wins where it speaks")
        let verdicts: [Verdict] = [.ok, .compileError, .runtimeError, .timeLimitExceeded(.cpu), .memoryLimitExceeded, .outputLimitExceeded, .internalError]
        #expect(verdicts.map(\.name) == [
            "ok", "compile_error", "runtime_error", "time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded",
            "internal_error",
        ])
    }
}

@Suite("CPU accounting fails closed")
struct CPUAccountingTests {
    @Test("an unreadable accounting file is a refusal to run, on either cgroup version")
    func unreadable() {
        let v1 = CgroupLocator(mode: .v1, ownPath: "", v1Mounts: ["cpuacct": "/nonexistent/cpuacct"])
        #expect(v1.cpuAccountingProblem()?.contains("/nonexistent/cpuacct/cpuacct.usage") == true)
        let v2 = CgroupLocator(mode: .v2, ownPath: "/nonexistent-talos")
        #expect(v2.cpuAccountingProblem()?.contains("CPU limits cannot be enforced") == true)
        #expect(v1.cpuNanoseconds(boxPath: "/talos/x/y") == nil, "no number is invented for a box")
    }

    @Test("v1 controllers are found where the host mounts them")
    func mountsFromTable() {
        let located = CgroupLocator.detect()
        if located.mode == .v1 {
            #expect(located.cpuAccountingProblem() == nil)
            #expect(located.v1Root("cpuacct") != "/sys/fs/cgroup/nonexistent")
        }
    }
}
