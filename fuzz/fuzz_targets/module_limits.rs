//! Fuzz target: the compile-limit pre-check (`check_module`) on arbitrary bytes.
//!
//! Properties (beyond "no panic, and no time or memory out of proportion to the input"):
//! - the stats it reports on success respect the limits it was given;
//! - with the defaults accepted, a tighter limit on any counted quantity below the reported value
//!   refuses the module, naming that limit and the value found;
//! - a `key=value` setting round-trips through `apply_setting`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../runtime/src/units.rs"]
mod units;

#[allow(dead_code)]
#[path = "../../runtime/src/module_limits.rs"]
mod module_limits;

use module_limits::{Limit, LimitError, ModuleLimits, check_module};

fuzz_target!(|data: &[u8]| {
    let defaults = ModuleLimits::default();
    let Ok(stats) = check_module(data, &defaults) else {
        return;
    };
    assert_eq!(stats.size, data.len() as u64);
    for limit in Limit::ALL {
        assert!(value(&stats, limit) <= defaults.get(limit), "{limit:?} over its default");
    }
    for limit in Limit::ALL {
        let found = value(&stats, limit);
        if found < 2 {
            continue;
        }
        let mut tight = ModuleLimits::default();
        tight
            .apply_setting(&format!("{}={}", limit.key(), found - 1))
            .expect("a whole number is a valid setting");
        assert_eq!(tight.get(limit), found - 1);
        match check_module(data, &tight) {
            Err(LimitError::Exceeded { limit: which, value, max }) => {
                assert_eq!(which, limit, "refused by {which:?}, not {limit:?}");
                assert!(value > max && value <= found, "refused at {value} under {max}");
            }
            other => panic!("{limit:?} at {} let a module with {found} through: {other:?}", found - 1),
        }
    }
});

fn value(stats: &module_limits::ModuleStats, limit: Limit) -> u64 {
    match limit {
        Limit::ModuleSize => stats.size,
        Limit::Functions => stats.functions,
        Limit::FunctionSize => stats.largest_function,
        Limit::DataSegments => stats.data_segments,
    }
}
