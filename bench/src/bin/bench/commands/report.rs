//! `bench report`: the whole protocol for a host, written to a directory. It
//! builds the input, runs the library's measurement and prints it; what is
//! measured and how is in the `bench` library.

use crate::flags::ReportArgs;

pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    let config = bench::report::ReportConfig {
        out: args.out,
        quick: args.quick,
        label: args.label,
        scratch: args.dir,
    };
    let started = std::time::Instant::now();
    let path = bench::report::run_report(&config, |step| {
        eprintln!("bench: [{:>5.1} s] {step}", started.elapsed().as_secs_f64());
    })
    .map_err(anyhow::Error::msg)?;
    println!("{}", path.display());
    Ok(())
}
