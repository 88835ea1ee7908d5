import Core
import Testing

@Suite("Progress bar")
struct ProgressBarTests {
    @Test("a progress line shows the bar, bytes done of total, the rate and the time left")
    func render() {
        let line = ProgressBar.render(label: "chunking ", done: 512 << 20, total: 2 << 30, elapsed: 2, width: 10)
        #expect(line == "chunking  [##........] 512.0 MiB / 2.0 GiB  256.0 MiB/s  ETA 0:06")
        #expect(ProgressBar.render(label: "x", done: 10, total: 10, elapsed: 1, width: 4).hasSuffix("done"))
        #expect(ProgressBar.render(label: "x", done: 0, total: 10, elapsed: 0, width: 4).hasSuffix("ETA --:--"))
        #expect(ByteCount.format(1023) == "1023 B")
        #expect(ByteCount.format(1536) == "1.5 KiB")
    }

}
