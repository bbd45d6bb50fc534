/// mimalloc instead of glibc's allocator (docs/BENCHMARKS.md: glibc's
/// `malloc`/`free` and their consolidation were ~10 % of the server's CPU
/// under the challenge load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tollgate_server::cli::main()
}
