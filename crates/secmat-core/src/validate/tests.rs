//! Every rule of the seed and the brief, each with a test that fails without it.

use proptest::prelude::*;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::*;

fn valid() -> Value {
    json!({
        "Name": "SuccessFactors OAuth",
        "TokenServiceUrl": "https://idp.example.com/oauth/token?tenant=a",
        "ClientId": "client",
        "ClientSecret": "s3c:r%t+/=&?",
    })
}

fn with(patch: Value) -> Value {
    let mut v = valid();
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn check(v: Value) -> Result<NewCredential, Vec<FieldError>> {
    CredentialDraft::from_json(v)?.validate()
}

fn errors(v: Value) -> Vec<FieldError> {
    check(v).expect_err("expected validation errors")
}

fn assert_rejects(v: Value, field: &str, needle: &str) {
    let errs = errors(v);
    assert!(
        errs.iter()
            .any(|e| e.field == field && e.message.contains(needle)),
        "expected an error on {field} containing {needle:?}, got {errs:?}"
    );
}

fn params(list: Value) -> Value {
    with(json!({ "CustomParameters": list }))
}

fn p(k: &str, v: &str, part: &str) -> Value {
    json!({"Key": k, "Value": v, "SendAsPartOf": part})
}

#[test]
fn minimal_credential_gets_the_documented_defaults() {
    let c = check(valid()).unwrap();
    assert_eq!(c.spec.client_authentication, ClientAuthentication::Body);
    assert_eq!(c.spec.scope_content_type, ScopeContentType::Urlencoded);
    assert_eq!(c.spec.grant_type, GrantType::Body);
    assert_eq!(c.spec.description, None);
    assert_eq!(c.client_secret.expose_secret(), "s3c:r%t+/=&?");
}

#[test]
fn every_field_is_read_and_choices_accept_any_letter_case() {
    let c = check(with(json!({
        "Description": "d", "ClientAuthentication": "HEADER", "Scope": "a b",
        "ScopeContentType": "Json", "Resource": "urn:r", "Audience": "aud", "GrantType": "URL",
        "CustomParameters": {"results": [p("tenant", "t1", "Header")]},
    })))
    .unwrap();
    let s = c.spec;
    assert_eq!(s.description.as_deref(), Some("d"));
    assert_eq!(s.client_authentication, ClientAuthentication::Header);
    assert_eq!(s.scope.as_deref(), Some("a b"));
    assert_eq!(s.scope_content_type, ScopeContentType::Json);
    assert_eq!(s.resource.as_deref(), Some("urn:r"));
    assert_eq!(s.audience.as_deref(), Some("aud"));
    assert_eq!(s.grant_type, GrantType::Url);
    assert_eq!(s.custom_parameters[0].send_as_part_of, SendAsPartOf::Header);
}

#[test]
fn empty_strings_and_nulls_mean_not_set_for_optional_fields() {
    let c = check(with(
        json!({"Description": "", "Scope": "  ", "Resource": null, "ClientAuthentication": ""}),
    ))
    .unwrap();
    assert_eq!(
        (c.spec.description, c.spec.scope, c.spec.resource),
        (None, None, None)
    );
    assert_eq!(c.spec.client_authentication, ClientAuthentication::Body);
}

#[test]
fn read_only_properties_sent_back_from_a_read_are_ignored() {
    assert!(check(with(json!({"__metadata": {"type": "x"}, "SecurityArtifactDescriptor": {"Status": "DEPLOYED"}}))).is_ok());
}

#[test]
fn unknown_properties_are_named() {
    assert_rejects(with(json!({"Scopes": "x"})), "Scopes", "not a property");
}

#[test]
fn non_string_values_are_named() {
    assert_rejects(with(json!({"Scope": 5})), "Scope", "must be a string");
    assert_rejects(
        with(json!({"ClientSecret": true})),
        "ClientSecret",
        "must be a string",
    );
    assert_rejects(
        with(json!({"CustomParameters": "x"})),
        "CustomParameters",
        "must be a list",
    );
    assert_rejects(
        params(json!([5])),
        "CustomParameters[0]",
        "must be an object",
    );
    assert_rejects(
        params(json!([{"Key": "a", "Value": 1, "SendAsPartOf": "body"}])),
        "CustomParameters[0].Value",
        "string",
    );
}

#[test]
fn body_must_be_an_object() {
    assert!(CredentialDraft::from_json(json!([1])).is_err());
}

#[test]
fn required_fields_are_required() {
    for field in ["Name", "TokenServiceUrl", "ClientId"] {
        let mut v = valid();
        v.as_object_mut().unwrap().remove(field);
        assert_rejects(v, field, "cannot be empty");
        assert_rejects(with(json!({ field: "   " })), field, "cannot be empty");
    }
}

#[test]
fn client_secret_is_required_and_says_it_must_be_reentered() {
    let mut v = valid();
    v.as_object_mut().unwrap().remove("ClientSecret");
    assert_rejects(v, "ClientSecret", "entered again on every edit");
    assert_rejects(
        with(json!({"ClientSecret": ""})),
        "ClientSecret",
        "cannot be empty",
    );
    assert_rejects(
        with(json!({"ClientSecret": null})),
        "ClientSecret",
        "cannot be empty",
    );
}

#[test]
fn secrets_never_appear_in_error_messages() {
    let long_secret = "Z".repeat(1025);
    for e in errors(with(
        json!({"ClientSecret": long_secret.clone(), "Name": ""}),
    )) {
        assert!(!e.message.contains("ZZZZ"), "{e:?}");
    }
}

#[test]
fn every_text_field_is_limited_to_1024_characters() {
    for field in [
        "Name",
        "Description",
        "TokenServiceUrl",
        "ClientId",
        "ClientSecret",
        "Scope",
        "Resource",
        "Audience",
    ] {
        let long = if field == "TokenServiceUrl" {
            format!("https://h/{}", "a".repeat(1020))
        } else {
            "a".repeat(1025)
        };
        assert_rejects(with(json!({ field: long })), field, "maximum of 1024");
    }
    // 1024 characters, counted as characters not bytes, is fine.
    assert!(check(with(json!({"Description": "é".repeat(1024)}))).is_ok());
}

#[test]
fn name_may_not_have_surrounding_white_space_or_control_characters() {
    assert_rejects(with(json!({"Name": " a"})), "Name", "white space");
    assert_rejects(with(json!({"Name": "a\n"})), "Name", "white space");
    assert_rejects(with(json!({"Name": "a\tb"})), "Name", "control characters");
    assert!(check(with(json!({"Name": "a b/c 'quoted' ünï"}))).is_ok());
}

#[test]
fn token_service_url_must_be_absolute_http_or_https() {
    assert_rejects(
        with(json!({"TokenServiceUrl": "/oauth/token"})),
        "TokenServiceUrl",
        "absolute",
    );
    assert_rejects(
        with(json!({"TokenServiceUrl": "ftp://h/t"})),
        "TokenServiceUrl",
        "http:// or https://",
    );
    assert_rejects(
        with(json!({"TokenServiceUrl": "https://u:p@h/t"})),
        "TokenServiceUrl",
        "user information",
    );
    assert_rejects(
        with(json!({"TokenServiceUrl": "https://h/t#x"})),
        "TokenServiceUrl",
        "fragment",
    );
    assert!(
        check(with(
            json!({"TokenServiceUrl": "http://127.0.0.1:9401/token?x=1"})
        ))
        .is_ok()
    );
}

#[test]
fn choices_reject_unknown_values_and_list_the_allowed_ones() {
    assert_rejects(
        with(json!({"ClientAuthentication": "basic"})),
        "ClientAuthentication",
        "body, header",
    );
    assert_rejects(
        with(json!({"ScopeContentType": "xml"})),
        "ScopeContentType",
        "urlencoded, json",
    );
    assert_rejects(
        with(json!({"GrantType": "query"})),
        "GrantType",
        "body, url",
    );
    assert_rejects(
        params(json!([p("a", "b", "cookie")])),
        "CustomParameters[0].SendAsPartOf",
        "body, header, url",
    );
}

#[test]
fn seed_rule_no_duplicate_key_value_send_as_part_of() {
    assert_rejects(
        params(json!([p("a", "1", "body"), p("a", "1", "BODY")])),
        "CustomParameters[1]",
        "duplicate",
    );
    // Same key with another value or another place is allowed.
    assert!(
        check(params(json!([
            p("a", "1", "body"),
            p("a", "2", "body"),
            p("a", "1", "url")
        ])))
        .is_ok()
    );
    // Header names are case-insensitive on the wire.
    assert_rejects(
        params(json!([p("X-A", "1", "header"), p("x-a", "1", "header")])),
        "CustomParameters[1]",
        "duplicate",
    );
}

#[test]
fn seed_rule_reserved_keys_in_any_letter_case() {
    for key in ["client_id", "CLIENT_SECRET", "Grant_Type", " grant_type "] {
        assert_rejects(
            params(json!([p(key, "x", "body")])),
            "CustomParameters[0].Key",
            "cannot be",
        );
    }
}

#[test]
fn seed_rule_no_empty_or_white_space_fields() {
    assert_rejects(
        params(json!([p("", "v", "body")])),
        "CustomParameters[0].Key",
        "cannot be empty",
    );
    assert_rejects(
        params(json!([p("k", " \t", "body")])),
        "CustomParameters[0].Value",
        "cannot be empty",
    );
    assert_rejects(
        params(json!([p("k", "v", " ")])),
        "CustomParameters[0].SendAsPartOf",
        "cannot be empty",
    );
    assert_rejects(
        params(json!([{"Key": "k", "Value": "v"}])),
        "CustomParameters[0].SendAsPartOf",
        "cannot be empty",
    );
}

#[test]
fn seed_rule_fields_at_most_1024_characters() {
    let long = "x".repeat(1025);
    assert_rejects(
        params(json!([p(&long, "v", "body")])),
        "CustomParameters[0].Key",
        "1024",
    );
    assert_rejects(
        params(json!([p("k", &long, "body")])),
        "CustomParameters[0].Value",
        "1024",
    );
    assert!(
        check(params(json!([p(
            &"k".repeat(1024),
            &"v".repeat(1024),
            "url"
        )])))
        .is_ok()
    );
}

#[test]
fn seed_rule_at_most_20_pairs() {
    let twenty: Vec<Value> = (0..20).map(|i| p(&format!("k{i}"), "v", "body")).collect();
    assert!(check(params(json!(twenty))).is_ok());
    let twenty_one: Vec<Value> = (0..21).map(|i| p(&format!("k{i}"), "v", "body")).collect();
    assert_rejects(
        params(json!(twenty_one)),
        "CustomParameters",
        "maximum of 20",
    );
}

#[test]
fn header_parameters_need_valid_unreserved_names_and_clean_values() {
    assert_rejects(
        params(json!([p("X Tenant", "v", "header")])),
        "CustomParameters[0].Key",
        "not a valid HTTP header name",
    );
    for h in [
        "Authorization",
        "content-type",
        "Content-Length",
        "HOST",
        "Transfer-Encoding",
    ] {
        assert_rejects(
            params(json!([p(h, "v", "header")])),
            "CustomParameters[0].Key",
            "set by secmat",
        );
    }
    assert_rejects(
        params(json!([p("X-A", "a\r\nInjected: 1", "header")])),
        "CustomParameters[0].Value",
        "line breaks",
    );
    // The same names are fine as body or URL parameters.
    assert!(
        check(params(json!([
            p("X Tenant", "v", "body"),
            p("host", "v", "url")
        ])))
        .is_ok()
    );
}

#[test]
fn body_parameters_may_not_repeat_a_field_that_is_set() {
    assert_rejects(
        with(json!({"Scope": "a", "CustomParameters": [p("scope", "b", "body")]})),
        "CustomParameters[0].Key",
        "Scope field",
    );
    assert_rejects(
        with(json!({"Audience": "a", "CustomParameters": [p("audience", "b", "body")]})),
        "CustomParameters[0].Key",
        "Audience field",
    );
    // RFC 8707 allows several resource parameters in a form body…
    assert!(check(with(json!({"Resource": "https://a/", "CustomParameters": [p("resource", "https://b/", "body")]}))).is_ok());
    // …but a JSON object cannot hold two.
    assert_rejects(
        with(
            json!({"Resource": "https://a/", "ScopeContentType": "json", "CustomParameters": [p("resource", "https://b/", "body")]}),
        ),
        "CustomParameters[0].Key",
        "Resource field",
    );
    assert_rejects(
        with(
            json!({"ScopeContentType": "json", "CustomParameters": [p("k", "1", "body"), p("k", "2", "body")]}),
        ),
        "CustomParameters[1].Key",
        "cannot repeat",
    );
    // Unset fields, other places and form bodies are fine.
    assert!(check(with(json!({"CustomParameters": [p("scope", "b", "body"), p("k", "1", "body"), p("k", "2", "body"), p("Scope", "x", "url")], "Scope": "a"}))).is_err());
    assert!(check(with(json!({"CustomParameters": [p("scope", "b", "body"), p("k", "1", "body"), p("k", "2", "body")]}))).is_ok());
    assert!(
        check(with(
            json!({"Scope": "a", "CustomParameters": [p("scope", "b", "url")]})
        ))
        .is_ok()
    );
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    let errs = errors(
        json!({"Name": "", "TokenServiceUrl": "nope", "CustomParameters": [p("client_id", "", "x")]}),
    );
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    for f in [
        "Name",
        "TokenServiceUrl",
        "ClientId",
        "ClientSecret",
        "CustomParameters[0].Key",
        "CustomParameters[0].Value",
        "CustomParameters[0].SendAsPartOf",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
}

fn arb_param() -> impl Strategy<Value = (String, String, String)> {
    (
        prop_oneof![
            "[a-zA-Z_-]{1,8}",
            Just("client_id".to_string()),
            Just("".to_string()),
            Just(" ".to_string())
        ],
        prop_oneof!["[a-z0-9 ]{0,6}", Just("x".repeat(1025))],
        prop_oneof![Just("body"), Just("header"), Just("URL"), Just("cookie")]
            .prop_map(String::from),
    )
}

fn name_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r"[^\s\p{Cc}]([^\p{Cc}]{0,30}[^\s\p{Cc}])?").unwrap()
}

proptest! {
    /// Whatever the input, validation either accepts a list that satisfies every seed rule, or
    /// rejects it; and it never panics.
    #[test]
    fn accepted_custom_parameters_always_satisfy_the_seed_rules(list in proptest::collection::vec(arb_param(), 0..24)) {
        let json_list: Vec<Value> = list.iter().map(|(k, v, s)| p(k, v, s)).collect();
        if let Ok(c) = check(params(json!(json_list))) {
            let ps = &c.spec.custom_parameters;
            prop_assert!(ps.len() <= 20);
            let mut seen = HashSet::new();
            for p in ps {
                prop_assert!(!p.key.trim().is_empty() && !p.value.trim().is_empty());
                prop_assert!(p.key.chars().count() <= 1024 && p.value.chars().count() <= 1024);
                prop_assert!(!RESERVED_PARAMETER_KEYS.iter().any(|r| p.key.trim().eq_ignore_ascii_case(r)));
                prop_assert!(seen.insert((p.key.to_ascii_lowercase(), p.value.clone(), p.send_as_part_of)));
            }
        }
    }

    #[test]
    fn arbitrary_json_never_panics(s in "\\PC{0,64}", n in any::<i64>()) {
        let _ = check(json!({"Name": s, "TokenServiceUrl": s, "ClientId": n, "CustomParameters": [{"Key": s}]}));
    }

    #[test]
    fn any_non_blank_name_within_limits_is_accepted(name in name_strategy()) {
        let accepted = check(with(json!({"Name": name}))).is_ok();
        prop_assert!(accepted);
    }
}
