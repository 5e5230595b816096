// SPDX-License-Identifier: GPL-2.0

//! The ioctls of the character device: one function per command.
//!
//! Each user struct is read exactly once into a kernel copy (no TOCTOU);
//! unknown commands get `ENOTTY`, bad arguments `EINVAL`, a bad pointer
//! `EFAULT`, missing privilege `EPERM`.

use core::mem::size_of;

use kernel::prelude::*;
use kernel::types::{AsBytes, FromBytes};
use kernel::uaccess::{UserPtr, UserSlice};

use crate::abi;
use crate::process::caller_is_admin;
use crate::profiler::{Profiler, Target};

// SAFETY: The ABI structs are `#[repr(C)]`, made of integers only, with
// explicit padding fields: every bit pattern is valid and no byte is padding.
unsafe impl FromBytes for abi::PidArg {}
// SAFETY: As above.
unsafe impl FromBytes for abi::ProcStats {}
// SAFETY: As above.
unsafe impl FromBytes for abi::List {}
// SAFETY: As above.
unsafe impl FromBytes for abi::Period {}
// SAFETY: As above.
unsafe impl AsBytes for abi::Version {}
// SAFETY: As above.
unsafe impl AsBytes for abi::Status {}
// SAFETY: As above.
unsafe impl AsBytes for abi::ProcStats {}
// SAFETY: As above.
unsafe impl AsBytes for abi::List {}

fn read_arg<T: FromBytes>(arg: UserPtr) -> Result<T> {
    UserSlice::new(arg, size_of::<T>()).reader().read::<T>()
}

fn write_arg<T: AsBytes>(arg: UserPtr, value: &T) -> Result {
    UserSlice::new(arg, size_of::<T>()).writer().write(value)
}

/// Runs ioctl `cmd` with argument `arg`.
pub(crate) fn dispatch(profiler: &Profiler, cmd: u32, arg: UserPtr) -> Result<isize> {
    match cmd {
        abi::IOC_VERSION => version(arg),
        abi::IOC_REGISTER => register(profiler, arg),
        abi::IOC_UNREGISTER => unregister(profiler, arg),
        abi::IOC_QUERY => query(profiler, arg),
        abi::IOC_QUERY_PID => query_pid(profiler, arg),
        abi::IOC_LIST => list(profiler, arg),
        abi::IOC_RESET => reset(profiler),
        abi::IOC_SET_PERIOD => set_period(profiler, arg),
        _ => Err(ENOTTY),
    }
}

fn version(arg: UserPtr) -> Result<isize> {
    write_arg(
        arg,
        &abi::Version {
            abi_version: abi::ABI_VERSION,
            reserved: 0,
            buffer_size: abi::BUFFER_SIZE,
        },
    )?;
    Ok(0)
}

/// The target of a `PidArg` and its flags, which must be within `allowed`.
fn pid_target(arg: UserPtr, allowed: u32) -> Result<(Target, u32)> {
    let a: abi::PidArg = read_arg(arg)?;
    if a.flags & !allowed != 0 {
        return Err(EINVAL);
    }
    Ok((Target::from_abi(a.pid)?, a.flags))
}

/// Returns the registered tgid.
fn register(profiler: &Profiler, arg: UserPtr) -> Result<isize> {
    let (target, flags) = pid_target(arg, abi::REG_TREE)?;
    let tgid = profiler.register(target, flags & abi::REG_TREE != 0)?;
    Ok(tgid as isize)
}

fn unregister(profiler: &Profiler, arg: UserPtr) -> Result<isize> {
    profiler.unregister(pid_target(arg, 0)?.0)?;
    Ok(0)
}

fn query(profiler: &Profiler, arg: UserPtr) -> Result<isize> {
    write_arg(arg, &profiler.status())?;
    Ok(0)
}

fn query_pid(profiler: &Profiler, arg: UserPtr) -> Result<isize> {
    let a: abi::ProcStats = read_arg(arg)?;
    if a.reserved != 0 {
        return Err(EINVAL);
    }
    let stats = profiler.query_pid(Target::from_abi(a.pid)?)?;
    write_arg(arg, &stats)?;
    Ok(0)
}

fn list(profiler: &Profiler, arg: UserPtr) -> Result<isize> {
    let mut a: abi::List = read_arg(arg)?;
    if a.capacity != 0 && a.pids == 0 {
        return Err(EINVAL);
    }
    let pids = profiler.pids()?;
    let wanted = pids.get(..a.capacity as usize).unwrap_or(&pids);
    if !wanted.is_empty() {
        let size = wanted.len().checked_mul(size_of::<i32>()).ok_or(EINVAL)?;
        let mut bytes = KVec::with_capacity(size, GFP_KERNEL)?;
        for pid in wanted {
            bytes.extend_from_slice(&pid.to_ne_bytes(), GFP_KERNEL)?;
        }
        let ptr = UserPtr::try_from(a.pids).map_err(|_| EFAULT)?;
        UserSlice::new(ptr, bytes.len())
            .writer()
            .write_slice(&bytes)?;
    }
    a.count = pids.len().try_into().unwrap_or(u32::MAX);
    write_arg(arg, &a)?;
    Ok(0)
}

fn reset(profiler: &Profiler) -> Result<isize> {
    if !caller_is_admin() {
        return Err(EPERM);
    }
    profiler.reset();
    Ok(0)
}

fn set_period(profiler: &Profiler, arg: UserPtr) -> Result<isize> {
    let a: abi::Period = read_arg(arg)?;
    if !caller_is_admin() {
        return Err(EPERM);
    }
    if a.reserved != 0 {
        return Err(EINVAL);
    }
    profiler.set_period_us(a.period_us)?;
    Ok(0)
}
