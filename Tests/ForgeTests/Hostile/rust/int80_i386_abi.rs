// Make a syscall through the 32-bit `int 0x80` entry (i386 ABI): the seccomp
// filter only allows the x86_64 architecture, so the kernel kills the process
// with SIGSYS (31); tini reports it as exit 128 + 31 = 159.
use std::arch::asm;

fn main() {
    println!("before int 0x80");
    let ret: i32;
    unsafe {
        // i386 getuid32 (199), harmless if it ran
        asm!("int 0x80", inlateout("eax") 199i32 => ret, options(nostack));
    }
    println!("ESCAPED: i386 syscall returned {}", ret);
}
