//! JSON text to a [`Value`], keeping object key order.

use std::fmt;

use pypickle_core::{Item, Object, Value};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

pub fn value(bytes: &[u8]) -> Result<Value, String> {
    let mut value = Value::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let root = Seed(&mut value)
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    value.set_root(root);
    Ok(value)
}

struct Seed<'v>(&'v mut Value);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Item;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Item, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Item, E> {
        Ok(Item::None)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Item, E> {
        Ok(Item::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Item, E> {
        Ok(Item::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Item, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Item::Int(i),
            Err(_) => self.0.push(Object::BigInt(Box::new(v.into()))),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Item, E> {
        Ok(Item::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Item, E> {
        Ok(self.0.push(Object::Str(v.into())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed(&mut *self.0))? {
            items.push(item);
        }
        Ok(self.0.push(Object::List(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let mut pairs = Vec::new();
        while let Some(k) = map.next_key_seed(Seed(&mut *self.0))? {
            let v = map.next_value_seed(Seed(&mut *self.0))?;
            pairs.push((k, v));
        }
        Ok(self.0.push(Object::Dict(pairs.into())))
    }
}
