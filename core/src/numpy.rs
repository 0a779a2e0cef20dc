//! numpy arrays and scalars as they appear in a pickle's [`Value`], recognised so the CBOR and
//! MessagePack codecs can write them as typed arrays, and rebuilt as the same numpy reduce graph
//! on the way back.
//!
//! Recognised (numeric and bool dtypes only: `b1`, `i1`..`i8`, `u1`..`u8`, `f2`..`f8`, either
//! byte order):
//! - `numpy(._core|.core).multiarray._reconstruct(numpy.ndarray, (0,), b'b')` + BUILD
//!   `(1, shape, dtype, is_fortran, raw bytes)`;
//! - `numpy(._core|.core).numeric._frombuffer(buffer, dtype, shape, order)` (protocol 5);
//! - `numpy(._core|.core).multiarray.scalar(dtype, raw bytes)`;
//!
//! A `_reconstruct` array of a big-endian dtype is what numpy loads from it: the little-endian
//! array (numpy swaps non-native data in `__setstate__`); `_frombuffer` keeps the byte order, and
//! big-endian arrays are rebuilt with it.
//!
//! where `dtype` is `numpy.dtype(code, False, True)` + BUILD `(3, byteorder, None, None, None, -1,
//! -1, 0)`, exactly as numpy writes it. Anything else (complex, datetime, strings, structured and
//! object dtypes, subclasses) is left to the generic object encoding, which is lossless too.

use std::borrow::Cow;

use crate::{CallKind, Instance, Item, Object, Value};

/// A numeric or bool numpy dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtype {
    /// `b` (bool), `i` (signed), `u` (unsigned) or `f` (IEEE float).
    pub kind: u8,
    /// Bytes per element: 1, 2, 4 or 8.
    pub size: u8,
    pub big_endian: bool,
}

impl Dtype {
    /// numpy's type code without byte order (`f8`, `b1`).
    pub fn code(&self) -> String {
        format!("{}{}", self.kind as char, self.size)
    }

    /// The byte order character numpy writes in the dtype state: `|` for one-byte types.
    pub fn byteorder(&self) -> &'static str {
        if self.size == 1 {
            "|"
        } else if self.big_endian {
            ">"
        } else {
            "<"
        }
    }

    /// numpy's `dtype.str` (`<f8`, `|b1`, `>i4`).
    pub fn descr(&self) -> String {
        format!("{}{}", self.byteorder(), self.code())
    }

    pub fn from_code(code: &str, byteorder: &str) -> Option<Dtype> {
        let (kind, size) = match code {
            "b1" => (b'b', 1),
            "i1" => (b'i', 1),
            "u1" => (b'u', 1),
            "i2" => (b'i', 2),
            "u2" => (b'u', 2),
            "f2" => (b'f', 2),
            "i4" => (b'i', 4),
            "u4" => (b'u', 4),
            "f4" => (b'f', 4),
            "i8" => (b'i', 8),
            "u8" => (b'u', 8),
            "f8" => (b'f', 8),
            _ => return None,
        };
        let big_endian = match (size, byteorder) {
            (1, "|") => false,
            (2.., "<") => false,
            (2.., ">") => true,
            _ => return None,
        };
        Some(Dtype {
            kind,
            size,
            big_endian,
        })
    }

    /// Parses [`Dtype::descr`].
    pub fn from_descr(descr: &str) -> Option<Dtype> {
        if descr.len() != 3 || !descr.is_ascii() {
            return None;
        }
        Dtype::from_code(&descr[1..], &descr[..1])
    }

    /// The RFC 8746 typed-array tag for this dtype (`None` for bool, written as an array of booleans).
    pub fn cbor_tag(&self) -> Option<u64> {
        // 0b010_f_s_e_ll: f float, s signed, e little-endian, ll log2 size (RFC 8746 section 2.1).
        let ll = u64::from(self.size.trailing_zeros());
        let le = if self.big_endian || self.size == 1 {
            0
        } else {
            4
        };
        match self.kind {
            b'u' => Some(64 + le + ll),
            b'i' => Some(72 + le + ll),
            b'f' => Some(80 + le + (ll - 1)),
            _ => None,
        }
    }

    /// The dtype of an RFC 8746 typed-array tag, for those this crate writes.
    pub fn from_cbor_tag(tag: u64) -> Option<Dtype> {
        if !(64..=87).contains(&tag) || tag == 68 || tag == 76 {
            return None;
        }
        let bits = tag - 64;
        let float = bits & 0b10000 != 0;
        let signed = bits & 0b01000 != 0;
        let little = bits & 0b00100 != 0;
        let ll = bits & 0b11;
        let (kind, size) = if float {
            if ll == 3 {
                return None; // float128
            }
            (b'f', 2u8 << ll)
        } else {
            (if signed { b'i' } else { b'u' }, 1u8 << ll)
        };
        if size == 1 && little {
            return None;
        }
        Some(Dtype {
            kind,
            size,
            big_endian: size > 1 && !little,
        })
    }
}

/// A numpy array (or, with an empty shape and `scalar`, a numpy scalar).
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray<'a> {
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    /// Data in column-major order (numpy's `is_fortran`).
    pub fortran: bool,
    /// The raw element bytes, in the dtype's byte order.
    pub data: Cow<'a, [u8]>,
}

impl NdArray<'_> {
    /// Elements in the array (product of the shape), if it does not overflow.
    pub fn count(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// Whether the data length matches the shape and dtype.
    pub fn consistent(&self) -> bool {
        self.count()
            .and_then(|n| n.checked_mul(u64::from(self.dtype.size)))
            .is_some_and(|n| n == self.data.len() as u64)
    }
}

/// What an instance is, if it is a recognised numpy array or scalar.
#[derive(Clone, Debug, PartialEq)]
pub enum Recognized<'a> {
    Array(NdArray<'a>),
    Scalar(NdArray<'a>),
}

fn global(value: &Value, item: Item) -> Option<(&str, &str)> {
    match value.object(item)? {
        Object::Global(g) => Some((&g.module, &g.name)),
        _ => None,
    }
}

fn tuple(value: &Value, item: Item) -> Option<&[Item]> {
    match value.object(item)? {
        Object::Tuple(items) => Some(items),
        _ => None,
    }
}

fn plain_call(inst: &Instance) -> bool {
    inst.kind == CallKind::Reduce
        && inst.kwargs.is_none()
        && inst.list_items.is_empty()
        && inst.dict_items.is_empty()
        && inst.set_items.is_empty()
}

fn is_core(module: &str, sub: &str) -> bool {
    module
        .strip_prefix("numpy._core.")
        .or_else(|| module.strip_prefix("numpy.core."))
        == Some(sub)
}

fn flag(item: Item, want: bool) -> bool {
    matches!(item, Item::Bool(b) if b == want)
        || matches!(item, Item::Int(i) if i == i64::from(want))
}

/// A `numpy.dtype` instance of a numeric or bool type.
pub fn recognize_dtype(value: &Value, item: Item) -> Option<Dtype> {
    let Some(Object::Instance(inst)) = value.object(item) else {
        return None;
    };
    if !plain_call(inst) || global(value, inst.callable)? != ("numpy", "dtype") {
        return None;
    }
    let args = tuple(value, inst.args)?;
    let [code, align, copy] = args else {
        return None;
    };
    if !flag(*align, false) || !flag(*copy, true) {
        return None;
    }
    let code = value.as_str(*code)?;
    let [state] = inst.state.as_slice() else {
        return None;
    };
    let state = tuple(value, *state)?;
    let [Item::Int(3), order, Item::None, Item::None, Item::None, Item::Int(-1), Item::Int(-1), Item::Int(0)] =
        state
    else {
        return None;
    };
    Dtype::from_code(code, value.as_str(*order)?)
}

fn shape(value: &Value, item: Item) -> Option<Vec<u64>> {
    tuple(value, item)?
        .iter()
        .map(|d| match d {
            Item::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        })
        .collect()
}

fn bytes(value: &Value, item: Item) -> Option<&[u8]> {
    match value.object(item)? {
        Object::Bytes(b) | Object::ByteArray(b) => Some(b),
        _ => None,
    }
}

/// Recognises a numpy array or scalar in an instance (see the module documentation).
pub fn recognize<'v>(value: &'v Value, inst: &'v Instance) -> Option<Recognized<'v>> {
    if !plain_call(inst) {
        return None;
    }
    let (module, name) = global(value, inst.callable)?;
    let args = tuple(value, inst.args)?;
    let found = match (name, args, inst.state.as_slice()) {
        ("_reconstruct", [cls, zero, b], [state]) if is_core(module, "multiarray") => {
            if global(value, *cls)? != ("numpy", "ndarray")
                || tuple(value, *zero)? != [Item::Int(0)]
                || bytes(value, *b)? != b"b"
            {
                return None;
            }
            let [Item::Int(1), shp, dtype, fortran, data] = tuple(value, *state)? else {
                return None;
            };
            let fortran = match fortran {
                Item::Bool(b) => *b,
                Item::Int(0) => false,
                Item::Int(1) => true,
                _ => return None,
            };
            let array = NdArray {
                dtype: recognize_dtype(value, *dtype)?,
                shape: shape(value, *shp)?,
                fortran,
                data: Cow::Borrowed(bytes(value, *data)?),
            };
            // numpy's __setstate__ swaps a non-native (big-endian) array to native order: what
            // CPython loads is the little-endian array, so that is what is written.
            Recognized::Array(if array.dtype.big_endian {
                to_little_endian(array)
            } else {
                array
            })
        }
        ("_frombuffer", [buf, dtype, shp, order], []) if is_core(module, "numeric") => {
            let fortran = match value.as_str(*order)? {
                "C" => false,
                "F" => true,
                _ => return None,
            };
            Recognized::Array(NdArray {
                dtype: recognize_dtype(value, *dtype)?,
                shape: shape(value, *shp)?,
                fortran,
                data: Cow::Borrowed(bytes(value, *buf)?),
            })
        }
        ("scalar", [dtype, data], []) if is_core(module, "multiarray") => {
            Recognized::Scalar(NdArray {
                dtype: recognize_dtype(value, *dtype)?,
                shape: Vec::new(),
                fortran: false,
                data: Cow::Borrowed(bytes(value, *data)?),
            })
        }
        _ => return None,
    };
    let array = match &found {
        Recognized::Array(a) | Recognized::Scalar(a) => a,
    };
    if !array.consistent() || array.shape.iter().any(|&d| d > i64::MAX as u64) {
        return None;
    }
    Some(found)
}

fn to_little_endian(array: NdArray<'_>) -> NdArray<'static> {
    let size = usize::from(array.dtype.size);
    let mut data = array.data.into_owned();
    for element in data.chunks_exact_mut(size) {
        element.reverse();
    }
    NdArray {
        dtype: Dtype {
            big_endian: false,
            ..array.dtype
        },
        shape: array.shape,
        fortran: array.fortran,
        data: Cow::Owned(data),
    }
}

fn push_global(value: &mut Value, module: &str, name: &str) -> Item {
    value.push(Object::global(module, name))
}

fn push_tuple(value: &mut Value, items: Vec<Item>) -> Item {
    value.push(Object::Tuple(items))
}

fn push_reduce(value: &mut Value, callable: Item, args: Item, state: Option<Item>) -> Item {
    let mut inst = Instance::new(CallKind::Reduce, callable, args, None);
    inst.state.extend(state);
    value.push(Object::Instance(Box::new(inst)))
}

/// Pushes `numpy.dtype(code, False, True)` + BUILD `(3, order, None, None, None, -1, -1, 0)`.
pub fn push_dtype(value: &mut Value, dtype: Dtype) -> Item {
    let callable = push_global(value, "numpy", "dtype");
    let code = value.push(Object::Str(dtype.code().into()));
    let args = push_tuple(value, vec![code, Item::Bool(false), Item::Bool(true)]);
    let order = value.push(Object::Str(dtype.byteorder().to_string().into()));
    let state = push_tuple(
        value,
        vec![
            Item::Int(3),
            order,
            Item::None,
            Item::None,
            Item::None,
            Item::Int(-1),
            Item::Int(-1),
            Item::Int(0),
        ],
    );
    push_reduce(value, callable, args, Some(state))
}

/// Rebuilds an array as `numpy._core.multiarray._reconstruct(...)` + BUILD (or a scalar as
/// `numpy._core.multiarray.scalar(dtype, data)`), the graph numpy 2 pickles.
pub fn rebuild(value: &mut Value, array: &NdArray<'_>, scalar: bool) -> Result<Item, String> {
    if !array.consistent() || array.shape.iter().any(|&d| d > i64::MAX as u64) {
        return Err(format!(
            "a numpy array of shape {:?} and dtype {} cannot hold {} bytes",
            array.shape,
            array.dtype.descr(),
            array.data.len()
        ));
    }
    if scalar && !array.shape.is_empty() {
        return Err("a numpy scalar has no shape".into());
    }
    let dtype = push_dtype(value, array.dtype);
    let data = value.push(Object::Bytes(array.data.to_vec()));
    if scalar {
        let callable = push_global(value, "numpy._core.multiarray", "scalar");
        let args = push_tuple(value, vec![dtype, data]);
        return Ok(push_reduce(value, callable, args, None));
    }
    let dims = array.shape.iter().map(|&d| Item::Int(d as i64)).collect();
    let shape = push_tuple(value, dims);
    if array.dtype.big_endian {
        // `_reconstruct` would load as a native (swapped) array: only `_frombuffer` keeps the order.
        let callable = push_global(value, "numpy._core.numeric", "_frombuffer");
        let Item::Ref(id) = data else { unreachable!() };
        if let Object::Bytes(b) = value.get_mut(id) {
            let b = std::mem::take(b);
            *value.get_mut(id) = Object::ByteArray(b);
        }
        let order = value.push(Object::Str(if array.fortran { "F" } else { "C" }.into()));
        let args = push_tuple(value, vec![data, dtype, shape, order]);
        return Ok(push_reduce(value, callable, args, None));
    }
    let callable = push_global(value, "numpy._core.multiarray", "_reconstruct");
    let ndarray = push_global(value, "numpy", "ndarray");
    let zero = push_tuple(value, vec![Item::Int(0)]);
    let b = value.push(Object::Bytes(b"b".to_vec()));
    let args = push_tuple(value, vec![ndarray, zero, b]);
    let state = push_tuple(
        value,
        vec![Item::Int(1), shape, dtype, Item::Bool(array.fortran), data],
    );
    Ok(push_reduce(value, callable, args, Some(state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_array_tags_match_rfc_8746() {
        let dt = |d: &str| Dtype::from_descr(d).unwrap();
        assert_eq!(dt("|u1").cbor_tag(), Some(64));
        assert_eq!(dt("|i1").cbor_tag(), Some(72));
        assert_eq!(dt("<u2").cbor_tag(), Some(69));
        assert_eq!(dt(">i4").cbor_tag(), Some(74));
        assert_eq!(dt("<i8").cbor_tag(), Some(79));
        assert_eq!(dt("<f2").cbor_tag(), Some(84));
        assert_eq!(dt("<f4").cbor_tag(), Some(85));
        assert_eq!(dt("<f8").cbor_tag(), Some(86));
        assert_eq!(dt(">f8").cbor_tag(), Some(82));
        assert_eq!(dt("|b1").cbor_tag(), None);
        for d in [
            "|u1", "|i1", "<u2", ">u2", "<i4", ">i8", "<f2", ">f4", "<f8",
        ] {
            assert_eq!(
                Dtype::from_cbor_tag(dt(d).cbor_tag().unwrap()),
                Some(dt(d)),
                "{d}"
            );
        }
    }

    #[test]
    fn rebuilt_arrays_are_recognised() {
        let mut value = Value::new();
        let array = NdArray {
            dtype: Dtype::from_descr("<i4").unwrap(),
            shape: vec![2, 2],
            fortran: true,
            data: Cow::Owned(vec![0; 16]),
        };
        let item = rebuild(&mut value, &array, false).unwrap();
        let Some(Object::Instance(inst)) = value.object(item) else {
            panic!()
        };
        assert_eq!(recognize(&value, inst), Some(Recognized::Array(array)));
    }
}
