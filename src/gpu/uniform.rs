//! Uniform blocks written once, in Rust. [`uniform!`] declares the `#[repr(C)]`
//! [`bytemuck::Pod`] struct a launcher fills and, from the same field list, the WGSL declaration
//! the kernel builders insert into the shader as its `{{PARAMS}}` token ([`Uniform::wgsl`]), so
//! the two layouts cannot drift apart.
//!
//! Each Rust field type names its WGSL type through [`WgslType`] (`u32`, `i32`, `f32`,
//! `[T; 2]` → `vec2<T>`, `[T; 4]` → `vec4<T>`). Padding is explicit: a [`Pad<N>`] field becomes
//! `N` scalar `u32` members (`pad0`, `pad1`, ...; a WGSL array would take a 16-byte stride in a
//! uniform block). The macro checks at compile time that every field sits where WGSL's
//! uniform-layout rules put its member (a field needing more alignment than the one before leaves
//! it must follow explicit padding) and that the struct's size is WGSL's, rounded up to its
//! largest alignment; a unit test checks the generated text against naga's layout as well.

/// A Rust field type of a uniform block and its WGSL equivalent.
pub(crate) trait WgslType {
    /// The WGSL type of one member.
    const WGSL: &'static str;
    /// Its alignment in WGSL's uniform address space, in bytes.
    const ALIGN: usize;
    /// `Some(n)`: padding, written as `n` members of type [`WgslType::WGSL`].
    const PAD: Option<usize> = None;
}

macro_rules! wgsl_types {
    ($($rust:ty => $wgsl:literal, $align:literal;)*) => {
        $(impl WgslType for $rust {
            const WGSL: &'static str = $wgsl;
            const ALIGN: usize = $align;
        })*
    };
}

wgsl_types! {
    u32 => "u32", 4;
    i32 => "i32", 4;
    f32 => "f32", 4;
    [u32; 2] => "vec2<u32>", 8;
    [i32; 2] => "vec2<i32>", 8;
    [f32; 2] => "vec2<f32>", 8;
    [u32; 4] => "vec4<u32>", 16;
    [i32; 4] => "vec4<i32>", 16;
    [f32; 4] => "vec4<f32>", 16;
}

/// `N` words of explicit padding in a uniform block (zero; never read by a shader).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Pad<const N: usize>([u32; N]);

impl<const N: usize> Pad<N> {
    /// The padding's one value.
    pub(crate) const ZERO: Self = Pad([0; N]);
}

impl<const N: usize> Default for Pad<N> {
    fn default() -> Self {
        Self::ZERO
    }
}

impl<const N: usize> WgslType for Pad<N> {
    const WGSL: &'static str = "u32";
    const ALIGN: usize = 4;
    const PAD: Option<usize> = Some(N);
}

/// One field of a [`Uniform`] struct.
pub(crate) struct Field {
    pub name: &'static str,
    /// WGSL type of the member (of each member, for padding).
    pub wgsl: &'static str,
    /// `Some(n)`: padding, `n` `u32` members.
    pub pad: Option<usize>,
    /// Byte offset in the Rust struct (checked against naga's layout by the unit tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub offset: usize,
    /// The field's doc comment, line by line (carried into the WGSL as comments).
    pub docs: &'static [&'static str],
}

/// A uniform block declared with [`uniform!`].
pub(crate) trait Uniform: bytemuck::Pod {
    /// The struct's name, in Rust and WGSL.
    const NAME: &'static str;
    /// Its fields in declaration order.
    const FIELDS: &'static [Field];

    /// The WGSL members, expanded: (name, WGSL type, byte offset in the Rust struct).
    #[cfg_attr(not(test), allow(dead_code))]
    fn members() -> Vec<(String, &'static str, usize)> {
        let mut out = Vec::new();
        for f in Self::FIELDS {
            match f.pad {
                Some(n) => {
                    out.extend((0..n).map(|k| (format!("{}{k}", f.name), f.wgsl, f.offset + 4 * k)))
                }
                None => out.push((f.name.to_string(), f.wgsl, f.offset)),
            }
        }
        out
    }

    /// The WGSL declaration of the struct, field comments included.
    fn wgsl() -> String {
        let mut s = format!(
            "// Generated from the Rust struct `{}` (gpu/uniform.rs's `uniform!`): edit it there.\n\
             struct {} {{\n",
            Self::NAME,
            Self::NAME
        );
        for f in Self::FIELDS {
            for line in f.docs {
                s += &format!("    //{line}\n");
            }
            match f.pad {
                Some(n) => {
                    for k in 0..n {
                        s += &format!("    {}{k}: {},\n", f.name, f.wgsl);
                    }
                }
                None => s += &format!("    {}: {},\n", f.name, f.wgsl),
            }
        }
        s + "}\n"
    }
}

/// `a` rounded up to a multiple of `b` (a power of two).
pub(crate) const fn round_up(a: usize, b: usize) -> usize {
    (a + b - 1) & !(b - 1)
}

/// Declare a uniform block: a `#[repr(C)]`, `Clone + Copy + Pod + Zeroable` struct (further
/// attributes, such as `#[derive(Default)]`, pass through) that implements [`Uniform`], with a
/// compile-time check that its layout is WGSL's. Field doc comments become WGSL comments.
macro_rules! uniform {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $( $(#[doc = $doc])* $field: $ty, )*
        }

        impl $crate::gpu::uniform::Uniform for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [$crate::gpu::uniform::Field] = &[$(
                $crate::gpu::uniform::Field {
                    name: stringify!($field),
                    wgsl: <$ty as $crate::gpu::uniform::WgslType>::WGSL,
                    pad: <$ty as $crate::gpu::uniform::WgslType>::PAD,
                    offset: ::std::mem::offset_of!($name, $field),
                    docs: &[$($doc),*],
                },
            )*];
        }

        // WGSL's uniform layout: each member at the next multiple of its alignment, the struct's
        // size a multiple of its largest alignment.
        const _: () = {
            use $crate::gpu::uniform::{round_up, WgslType};
            let mut end = 0usize;
            let mut align = 4usize;
            $(
                let a = <$ty as WgslType>::ALIGN;
                assert!(
                    ::std::mem::offset_of!($name, $field) == round_up(end, a),
                    concat!(
                        "uniform ", stringify!($name), ": field `", stringify!($field),
                        "` is not where WGSL puts it (add explicit `Pad<N>` padding before it)"
                    )
                );
                end = ::std::mem::offset_of!($name, $field) + ::std::mem::size_of::<$ty>();
                if a > align {
                    align = a;
                }
            )*
            assert!(
                ::std::mem::size_of::<$name>() == round_up(end, align),
                concat!(
                    "uniform ", stringify!($name),
                    ": the size is not WGSL's (pad the end to a multiple of the largest alignment)"
                )
            );
        };
    };
}
pub(crate) use uniform;

#[cfg(test)]
pub(crate) mod tests {
    use super::Uniform;

    /// Parse `T`'s WGSL as a uniform block with naga, validate it, and check its members'
    /// offsets and its size against the Rust struct's.
    pub(crate) fn check_layout<T: Uniform>() {
        let wgsl = format!(
            "{}\n@group(0) @binding(0) var<uniform> block: {};\n",
            T::wgsl(),
            T::NAME
        );
        let module = naga::front::wgsl::parse_str(&wgsl)
            .unwrap_or_else(|e| panic!("{}: {}\n{wgsl}", T::NAME, e.emit_to_string(&wgsl))); // ok: unit test
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}\n{wgsl}", T::NAME, e.emit_to_string(&wgsl))); // ok: unit test
        let (members, span) = module
            .types
            .iter()
            .find_map(|(_, ty)| match &ty.inner {
                naga::TypeInner::Struct { members, span }
                    if ty.name.as_deref() == Some(T::NAME) =>
                {
                    Some((members.clone(), *span))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{}: no struct in the WGSL", T::NAME)); // ok: unit test
        let want = T::members();
        let got: Vec<_> = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
            .collect();
        let want_offsets: Vec<_> = want.iter().map(|(n, _, o)| (n.clone(), *o)).collect();
        assert_eq!(got, want_offsets, "{}: WGSL member offsets", T::NAME);
        assert_eq!(
            span as usize,
            std::mem::size_of::<T>(),
            "{}: WGSL struct size vs size_of",
            T::NAME
        );
    }

    super::uniform! {
        /// Every field type and explicit padding.
        struct Mixed {
            /// A doc line.
            a: u32,
            pad: super::Pad<1>,
            v2: [f32; 2],
            v4: [u32; 4],
            b: i32,
            c: f32,
            d: [i32; 2],
            e: [f32; 4],
            f: [i32; 4],
            g: [u32; 2],
            tail: super::Pad<2>,
        }
    }

    #[test]
    fn uniform_layout_matches_naga() {
        check_layout::<Mixed>();
        let text = Mixed::wgsl();
        assert!(text.contains("    // A doc line.\n    a: u32,\n"), "{text}");
        assert!(
            text.contains("    pad0: u32,\n    v2: vec2<f32>,\n"),
            "{text}"
        );
        assert!(text.contains("    tail1: u32,\n}"), "{text}");
        let _ = Mixed {
            a: 0,
            pad: super::Pad::ZERO,
            v2: [0.0; 2],
            v4: [0; 4],
            b: 0,
            c: 0.0,
            d: [0; 2],
            e: [0.0; 4],
            f: [0; 4],
            g: [0; 2],
            tail: super::Pad::ZERO,
        };
    }
}
