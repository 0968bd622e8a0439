//! A VU's cookie jar, as k6 keeps one per VU: cookies a response sets are sent with later
//! requests to the URLs they match (RFC 6265, by `cookie_store`); `params.cookies` add to
//! them for one request; `http.cookieJar()` reads and changes the jar.

use cookie_store::CookieStore;
use rquickjs::{Array, Ctx, Exception, Function, Object, Result, Value};
use std::cell::RefCell;
use std::rc::Rc;
use url::Url;

/// The `Cookie` header for a request to `url`: the jar's cookies for it, with `extra` (the
/// request's own) over those of the same name.
pub fn header(jar: &CookieStore, url: &str, extra: &[(String, String)]) -> Option<String> {
    let url = Url::parse(url).ok()?;
    let mut pairs: Vec<(String, String)> = jar
        .get_request_values(&url)
        .filter(|(n, _)| !extra.iter().any(|(e, _)| e == n))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    pairs.extend(extra.iter().cloned());
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Keeps what the response to `url` set (its `Set-Cookie` headers).
pub fn store(jar: &mut CookieStore, url: &str, headers: &[(String, String)]) {
    let Ok(url) = Url::parse(url) else {
        return;
    };
    for (_, v) in headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
    {
        let _ = jar.parse(v, &url);
    }
}

/// A response's `cookies`: by name, each a list of `{ name, value, domain, path, http_only,
/// secure }`, from its `Set-Cookie` headers.
pub fn of_response<'js>(ctx: &Ctx<'js>, headers: &[(String, String)]) -> Result<Object<'js>> {
    let out = Object::new(ctx.clone())?;
    for (_, v) in headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
    {
        let Ok(c) = cookie_store::RawCookie::parse(v.as_str()) else {
            continue;
        };
        let list: Array = match out.get::<_, Option<Array>>(c.name())? {
            Some(l) => l,
            None => Array::new(ctx.clone())?,
        };
        let o = Object::new(ctx.clone())?;
        o.set("name", c.name())?;
        o.set("value", c.value())?;
        o.set("domain", c.domain().unwrap_or_default())?;
        o.set("path", c.path().unwrap_or_default())?;
        o.set("http_only", c.http_only().unwrap_or(false))?;
        o.set("secure", c.secure().unwrap_or(false))?;
        list.set(list.len(), o)?;
        out.set(c.name(), list)?;
    }
    Ok(out)
}

/// `params.cookies`: `{ name: "value" }` or `{ name: { value, replace } }`.
pub fn of_params<'js>(cookies: &Object<'js>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for key in cookies.keys::<String>() {
        let key = key?;
        let v: Value<'js> = cookies.get(&key)?;
        let value = match v.as_object() {
            Some(o) => o.get::<_, rquickjs::Coerced<String>>("value")?.0,
            None => v.get::<rquickjs::Coerced<String>>()?.0,
        };
        out.push((key, value));
    }
    Ok(out)
}

/// `__loadpacer.jar*`: what `http.cookieJar()` calls.
pub fn install<'js>(
    ctx: &Ctx<'js>,
    lp: &Object<'js>,
    jar: &Rc<RefCell<CookieStore>>,
) -> Result<()> {
    let j = jar.clone();
    lp.set(
        "jarCookiesForURL",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, url: String| {
            let out = Object::new(ctx.clone())?;
            let url = Url::parse(&url)
                .map_err(|e| Exception::throw_type(&ctx, &format!("{url}: {e}")))?;
            for (n, v) in j.borrow().get_request_values(&url) {
                let list: Array = match out.get::<_, Option<Array>>(n)? {
                    Some(l) => l,
                    None => Array::new(ctx.clone())?,
                };
                list.set(list.len(), v)?;
                out.set(n, list)?;
            }
            Ok::<_, rquickjs::Error>(out)
        })?,
    )?;
    let j = jar.clone();
    lp.set(
        "jarSet",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, url: String, name: String, value: String, path: Option<String>| {
                let u = Url::parse(&url)
                    .map_err(|e| Exception::throw_type(&ctx, &format!("{url}: {e}")))?;
                let text = format!(
                    "{name}={value}; Path={}",
                    path.unwrap_or_else(|| "/".into())
                );
                j.borrow_mut()
                    .parse(&text, &u)
                    .map(|_| ())
                    .map_err(|e| Exception::throw_type(&ctx, &format!("cookie {name}: {e}")))
            },
        )?,
    )?;
    let j = jar.clone();
    lp.set(
        "jarClear",
        Function::new(ctx.clone(), move |url: Option<String>| {
            let mut jar = j.borrow_mut();
            match url.and_then(|u| Url::parse(&u).ok()) {
                None => jar.clear(),
                Some(u) => {
                    let names: Vec<(String, String, String)> = jar
                        .matches(&u)
                        .iter()
                        .map(|c| {
                            let domain = c
                                .domain
                                .as_cow()
                                .map(|d| d.into_owned())
                                .unwrap_or_default();
                            (domain, c.path.as_ref().to_string(), c.name().to_string())
                        })
                        .collect();
                    for (d, p, n) in names {
                        jar.remove(&d, &p, &n);
                    }
                }
            }
        })?,
    )?;
    Ok(())
}
