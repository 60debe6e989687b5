//! Polls as clients see them and the rules about them: what a valid poll is, what may
//! change once voting started, whether a ballot is valid, who sees results. Pure: an
//! adapter of [`crate::ports::Polls`] keeps them, functions serve them.
//!
//! Invariants:
//! - text is stored normalised (Unicode NFC, trimmed) and holds no control characters;
//!   option texts are unique after normalisation, compared case-insensitively;
//! - `1 <= min_choices <= max_choices <= options.len()`, and `single` means 1 and 1;
//! - a poll past `closes_at` is closed, whatever its stored status ([`Poll::effective`]).

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::{
    Error, FieldError,
    access::{Principal, Role, TokenKind},
    ballots::Voter,
    fields,
};

pub const QUESTION_MAX: usize = 300;
pub const OPTIONS_MIN: usize = 2;
pub const OPTIONS_MAX: usize = 20;
pub const OPTION_TEXT_MAX: usize = 100;
/// How far ahead `closes_at` may be.
pub const CLOSES_AT_MAX_SECS: u64 = 365 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Single,
    Multiple,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    #[default]
    Unlisted,
}

/// Who sees results, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultsVisibility {
    /// Everyone who can read the poll.
    #[default]
    Always,
    /// Those who voted, and everyone once the poll is closed.
    AfterVote,
    /// Everyone, once the poll is closed.
    AfterClose,
    /// The owner and admins only.
    Owner,
}

/// Who may vote, widest first: once voting started it may only narrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Voters {
    /// Guest tokens too (`allow_guests: true`).
    Guests,
    /// Signed-in accounts (`allow_guests: false`).
    #[default]
    Accounts,
    /// Accounts whose email is verified.
    Verified,
}

impl Voters {
    /// The rule `allow_guests` names: guests, or accounts.
    fn of_allow_guests(allow_guests: bool) -> Self {
        if allow_guests { Voters::Guests } else { Voters::Accounts }
    }

    /// Whether `voter` may vote under this rule.
    pub fn admit(self, voter: Voter<'_>) -> bool {
        match self {
            Voters::Guests => true,
            Voters::Accounts => !voter.guest,
            Voters::Verified => !voter.guest && voter.verified,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollOption {
    pub id: String,
    pub text: String,
}

/// A poll, as every route returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    pub id: String,
    pub question: String,
    pub options: Vec<PollOption>,
    pub kind: Kind,
    pub min_choices: usize,
    pub max_choices: usize,
    pub visibility: Visibility,
    /// Who may vote.
    #[serde(default)]
    pub voters: Voters,
    /// `voters == guests`, kept for clients written before `voters`: [`Poll::new`] keeps
    /// the two in step, and [`Poll::upgraded`] derives `voters` for polls stored before it.
    pub allow_guests: bool,
    pub results_visibility: ResultsVisibility,
    pub allow_vote_change: bool,
    /// RFC 3339, UTC.
    pub closes_at: Option<String>,
    pub status: Status,
    /// Whose poll it is: shown to its owner and admins only ([`Poll::seen_by`]), since a
    /// user's id would let a poll owner recognise that user elsewhere.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner_id: String,
    pub created_at: String,
    pub updated_at: String,
    /// Starts at 1 and grows with every change; `If-Match` compares it.
    pub version: u64,
}

/// The settable fields of a poll: the body of `POST /v1/polls`, and what a `PATCH`
/// produces when merged into the current poll. Serde checks the shape; the rules need the
/// clock and give JSON Pointers, so they run in [`Settings::check`], not `validate`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub question: String,
    pub options: Vec<OptionText>,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default, deserialize_with = "fields::whole_number")]
    pub min_choices: Option<usize>,
    #[serde(default, deserialize_with = "fields::whole_number")]
    pub max_choices: Option<usize>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Who may vote; `allow_guests` is its older spelling ([`Settings::voters`]).
    #[serde(default, deserialize_with = "fields::present")]
    pub voters: Option<Voters>,
    #[serde(default, deserialize_with = "fields::present")]
    pub allow_guests: Option<bool>,
    #[serde(default)]
    pub results_visibility: ResultsVisibility,
    #[serde(default)]
    pub allow_vote_change: bool,
    #[serde(default)]
    pub closes_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionText {
    pub text: String,
}

/// The body of `PATCH /v1/polls/{id}`: any settable field; `closes_at: null` removes it
/// (no other field may be `null`).
/// Its rules run in `Poll::apply`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[serde(default, deserialize_with = "fields::present")]
    pub question: Option<String>,
    #[serde(default, deserialize_with = "fields::present")]
    pub options: Option<Vec<OptionText>>,
    #[serde(default, deserialize_with = "fields::present")]
    pub kind: Option<Kind>,
    #[serde(default, deserialize_with = "fields::whole_number")]
    pub min_choices: Option<usize>,
    #[serde(default, deserialize_with = "fields::whole_number")]
    pub max_choices: Option<usize>,
    #[serde(default, deserialize_with = "fields::present")]
    pub visibility: Option<Visibility>,
    #[serde(default, deserialize_with = "fields::present")]
    pub voters: Option<Voters>,
    #[serde(default, deserialize_with = "fields::present")]
    pub allow_guests: Option<bool>,
    #[serde(default, deserialize_with = "fields::present")]
    pub results_visibility: Option<ResultsVisibility>,
    #[serde(default, deserialize_with = "fields::present")]
    pub allow_vote_change: Option<bool>,
    #[serde(default, deserialize_with = "fields::present")]
    pub closes_at: Option<Option<String>>,
}

/// Valid settings, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub question: String,
    pub options: Vec<String>,
    pub kind: Kind,
    pub min_choices: usize,
    pub max_choices: usize,
    pub voters: Voters,
    pub closes_at: Option<(String, u64)>,
}

/// NFC, trimmed; `Err` names what is wrong.
pub fn normalise(text: &str, max: usize) -> Result<String, String> {
    let text: String = text.nfc().collect::<String>().trim().to_owned();
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    match text.chars().count() {
        0 => Err("must not be empty".into()),
        n if n > max => Err(format!("must be at most {max} characters (is {n})")),
        _ => Ok(text),
    }
}

/// Whether two texts read the same to a voter: equal after compatibility normalisation
/// (NFKC), case folding, dropping invisible format characters (zero-width spaces and
/// joiners, bidi controls, soft hyphens, BOM) and collapsing whitespace; so `Yes`,
/// `YES`, `Ｙｅｓ` and `Ye\u{200b}s` are one option, not four.
pub fn same_text(a: &str, b: &str) -> bool {
    fn key(text: &str) -> String {
        let invisible = |c: &char| {
            matches!(*c, '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{180e}' | '\u{feff}')
                || ('\u{200b}'..='\u{200f}').contains(c)
                || ('\u{202a}'..='\u{202e}').contains(c)
                || ('\u{2060}'..='\u{206f}').contains(c)
        };
        let folded: String = text.nfkc().filter(|c| !invisible(c)).flat_map(char::to_lowercase).collect();
        folded.split_whitespace().collect::<Vec<_>>().join(" ")
    }
    key(a) == key(b)
}

/// How far ahead a `closes_at` must be when it is set, in seconds: more than
/// [`crate::counting::CLOSING_DELAY_MS`] from any instant of the second `now` names, so
/// every vote path's copy of the poll knows it before it takes effect.
pub const CLOSES_AT_MIN_AHEAD_SECS: u64 = crate::counting::CLOSING_DELAY_MS / 1000 + 1;

/// Parses an RFC 3339 date-time into (UTC RFC 3339 with seconds, epoch seconds).
pub fn parse_instant(text: &str) -> Option<(String, u64)> {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(text, &Rfc3339).ok()?.to_offset(time::UtcOffset::UTC);
    let at = at.replace_nanosecond(0).ok()?;
    let epoch = u64::try_from(at.unix_timestamp()).ok()?;
    Some((at.format(&Rfc3339).ok()?, epoch))
}

impl Settings {
    /// Every rule at once, so a client sees all its mistakes in one `errors[]`.
    pub fn check(&self, now: u64) -> Result<Checked, Error> {
        let mut errors = Vec::new();
        let question = normalise(&self.question, QUESTION_MAX)
            .map_err(|e| errors.push(FieldError::new("#/question", e)))
            .unwrap_or_default();
        if !(OPTIONS_MIN..=OPTIONS_MAX).contains(&self.options.len()) {
            errors.push(FieldError::new(
                "#/options",
                format!("must have {OPTIONS_MIN} to {OPTIONS_MAX} options (has {})", self.options.len()),
            ));
        }
        let mut options: Vec<String> = Vec::new();
        for (i, option) in self.options.iter().enumerate().take(OPTIONS_MAX + 1) {
            match normalise(&option.text, OPTION_TEXT_MAX) {
                Err(e) => errors.push(FieldError::new(format!("#/options/{i}/text"), e)),
                Ok(text) if options.iter().any(|o| same_text(o, &text)) => {
                    errors.push(FieldError::new(format!("#/options/{i}/text"), "duplicates an earlier option"))
                }
                Ok(text) => options.push(text),
            }
        }
        let count = self.options.len();
        let (min, max) = match self.kind {
            Kind::Single => (self.min_choices.unwrap_or(1), self.max_choices.unwrap_or(1)),
            Kind::Multiple => (self.min_choices.unwrap_or(1), self.max_choices.unwrap_or(count.max(1))),
        };
        if self.kind == Kind::Single && (min, max) != (1, 1) {
            errors.push(FieldError::new("#/max_choices", "a single-choice poll takes exactly 1 choice"));
        } else if min < 1 {
            errors.push(FieldError::new("#/min_choices", "must be at least 1"));
        } else if min > max {
            errors.push(FieldError::new("#/min_choices", "must not exceed max_choices"));
        } else if max > count {
            errors.push(FieldError::new("#/max_choices", format!("must not exceed the number of options ({count})")));
        }
        let closes_at = match &self.closes_at {
            None => None,
            Some(text) => match parse_instant(text) {
                None => {
                    errors.push(FieldError::new("#/closes_at", "must be an RFC 3339 date-time"));
                    None
                }
                Some((_, epoch)) if epoch < now + CLOSES_AT_MIN_AHEAD_SECS => {
                    let message = format!("must be at least {CLOSES_AT_MIN_AHEAD_SECS} seconds in the future");
                    errors.push(FieldError::new("#/closes_at", message));
                    None
                }
                Some((_, epoch)) if epoch > now + CLOSES_AT_MAX_SECS => {
                    errors.push(FieldError::new("#/closes_at", "must be at most a year away"));
                    None
                }
                Some(at) => Some(at),
            },
        };
        let voters = self.voters().map_err(|e| errors.push(e)).unwrap_or_default();
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(Checked { question, options, kind: self.kind, min_choices: min, max_choices: max, voters, closes_at })
    }

    /// Who may vote: `voters`, or what `allow_guests` names (`false` is `accounts`); both
    /// may be given only when they agree.
    fn voters(&self) -> Result<Voters, FieldError> {
        match (self.voters, self.allow_guests) {
            (Some(voters), Some(allow)) if (voters == Voters::Guests) != allow => {
                Err(FieldError::new("#/allow_guests", "contradicts voters: give one of the two"))
            }
            (Some(voters), _) => Ok(voters),
            (None, allow) => Ok(Voters::of_allow_guests(allow.unwrap_or(false))),
        }
    }
}

impl Poll {
    /// A new open poll from checked settings.
    pub fn new(id: String, owner_id: String, settings: &Settings, checked: Checked, now: &str) -> Self {
        let options =
            checked.options.into_iter().map(|text| PollOption { id: crate::ids::random_token(6), text }).collect();
        Self {
            id,
            question: checked.question,
            options,
            kind: checked.kind,
            min_choices: checked.min_choices,
            max_choices: checked.max_choices,
            visibility: settings.visibility,
            voters: checked.voters,
            allow_guests: checked.voters == Voters::Guests,
            results_visibility: settings.results_visibility,
            allow_vote_change: settings.allow_vote_change,
            closes_at: checked.closes_at.map(|(text, _)| text),
            status: Status::Open,
            owner_id,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            version: 1,
        }
    }

    /// This poll as stored before `voters` existed (no `voters`, so `accounts`) with
    /// `voters` derived from `allow_guests`; a no-op for any poll stored since.
    pub fn upgraded(mut self) -> Self {
        if self.allow_guests {
            self.voters = Voters::Guests;
        }
        self
    }

    /// `closes_at` as epoch seconds.
    pub fn closes_at_epoch(&self) -> Option<u64> {
        self.closes_at.as_deref().and_then(parse_instant).map(|(_, epoch)| epoch)
    }

    /// Whether `closes_at` has passed at `now`.
    pub fn expired(&self, now: u64) -> bool {
        self.closes_at_epoch().is_some_and(|at| at <= now)
    }

    /// The poll as of `now`: closed once `closes_at` has passed.
    pub fn effective(mut self, now: u64) -> Self {
        if self.expired(now) {
            self.status = Status::Closed;
        }
        self
    }

    /// The settings of this poll, to merge a change into.
    fn settings(&self) -> Settings {
        Settings {
            question: self.question.clone(),
            options: self.options.iter().map(|o| OptionText { text: o.text.clone() }).collect(),
            kind: self.kind,
            min_choices: Some(self.min_choices),
            max_choices: Some(self.max_choices),
            visibility: self.visibility,
            voters: Some(self.voters),
            allow_guests: None,
            results_visibility: self.results_visibility,
            allow_vote_change: self.allow_vote_change,
            closes_at: self.closes_at.clone(),
        }
    }

    /// This poll with `change` applied at `now`, or why not. `voting_started`: a ballot
    /// exists, which freezes the question, the options and the choice rules, and forbids
    /// loosening who may vote or who sees results. The version grows by one.
    pub fn apply(&self, change: &Change, voting_started: bool, now: u64, now_text: &str) -> Result<Poll, Error> {
        if *change == Change::default() {
            return Err(Error::Validation(vec![FieldError::new("#", "give at least one field to change")]));
        }
        let frozen = change.question.is_some()
            || change.options.is_some()
            || change.kind.is_some()
            || change.min_choices.is_some()
            || change.max_choices.is_some();
        if voting_started && frozen {
            return Err(Error::Conflict(
                "Voting has started: the question, options and choice rules can no longer change.".into(),
            ));
        }
        if voting_started && change.results_visibility.is_some_and(|r| r < self.results_visibility) {
            return Err(Error::Conflict("Voting has started: results cannot be shown more widely now.".into()));
        }
        if change.closes_at.is_some() && self.expired(now) {
            return Err(Error::Conflict("The poll has reached its closing time; it cannot be reopened.".into()));
        }
        let mut settings = self.settings();
        if let Some(question) = &change.question {
            settings.question = question.clone();
        }
        if let Some(options) = &change.options {
            settings.options = options.clone();
        }
        if let Some(kind) = change.kind {
            settings.kind = kind;
            // The other kind's defaults, unless given.
            settings.min_choices = change.min_choices;
            settings.max_choices = change.max_choices;
        }
        settings.min_choices = change.min_choices.or(settings.min_choices);
        settings.max_choices = change.max_choices.or(settings.max_choices);
        if change.options.is_some() && change.kind.is_none() && settings.kind == Kind::Multiple {
            // New options: "up to all of them" again, unless given.
            settings.max_choices = change.max_choices;
        }
        settings.visibility = change.visibility.unwrap_or(settings.visibility);
        if change.voters.is_some() || change.allow_guests.is_some() {
            (settings.voters, settings.allow_guests) = (change.voters, change.allow_guests);
        }
        settings.results_visibility = change.results_visibility.unwrap_or(settings.results_visibility);
        settings.allow_vote_change = change.allow_vote_change.unwrap_or(settings.allow_vote_change);
        if let Some(closes_at) = &change.closes_at {
            settings.closes_at = closes_at.clone();
        }
        // An unchanged closing time is not re-checked against "in the future".
        let unchanged_close = change.closes_at.is_none();
        let closes_at = settings.closes_at.clone();
        if unchanged_close {
            settings.closes_at = None;
        }
        let checked = settings.check(now)?;
        if voting_started && checked.voters < self.voters {
            return Err(Error::Conflict("Voting has started: who may vote can only narrow now.".into()));
        }
        let mut poll = Poll::new(self.id.clone(), self.owner_id.clone(), &settings, checked, now_text);
        if change.options.is_none() {
            poll.options = self.options.clone();
        }
        if unchanged_close {
            poll.closes_at = closes_at;
        }
        poll.status = self.status;
        poll.created_at = self.created_at.clone();
        poll.version = self.version + 1;
        Ok(poll)
    }

    /// Checks a ballot's picks: known options of this poll, no duplicates, within the
    /// choice rules. Returns them in the poll's option order.
    pub fn check_ballot(&self, option_ids: &[String]) -> Result<Vec<String>, Error> {
        let mut errors = Vec::new();
        for (i, id) in option_ids.iter().enumerate() {
            if !self.options.iter().any(|o| &o.id == id) {
                errors.push(FieldError::new(format!("#/option_ids/{i}"), "is not an option of this poll"));
            } else if option_ids[..i].contains(id) {
                errors.push(FieldError::new(format!("#/option_ids/{i}"), "is picked twice"));
            }
        }
        let n = option_ids.len();
        if n < self.min_choices || n > self.max_choices {
            let wanted = if self.min_choices == self.max_choices {
                format!("exactly {}", self.min_choices)
            } else {
                format!("{} to {}", self.min_choices, self.max_choices)
            };
            errors.push(FieldError::new("#/option_ids", format!("pick {wanted} options (picked {n})")));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(self.options.iter().filter(|o| option_ids.contains(&o.id)).map(|o| o.id.clone()).collect())
    }

    /// Why this poll (as of now, see [`Poll::effective`]) refuses a vote, if it does.
    /// `changing`: the voter has a ballot with other picks.
    pub fn refuses_vote(&self, voter: Voter<'_>, changing: bool) -> Option<Error> {
        if self.status == Status::Closed {
            return Some(Error::Conflict("The poll is closed.".into()));
        }
        if !self.voters.admit(voter) {
            return Some(Error::Forbidden);
        }
        if changing && !self.allow_vote_change {
            return Some(Error::Conflict(
                "You have already voted, and this poll does not allow changing votes.".into(),
            ));
        }
        None
    }

    /// The poll as `caller` may see it: without `owner_id` unless the caller owns it or is
    /// an admin.
    pub fn seen_by(mut self, caller: &Principal) -> Self {
        if !crate::access::may_change(caller, &self.owner_id) {
            self.owner_id.clear();
        }
        self
    }

    /// Whether `caller` may see results now; `has_voted` is asked only when it matters.
    pub fn results_visible_to(&self, caller: &Principal, has_voted: bool) -> bool {
        if caller.sub == self.owner_id || caller.has_role(Role::Admin) {
            return true;
        }
        match self.results_visibility {
            ResultsVisibility::Always => true,
            ResultsVisibility::AfterVote => has_voted || self.status == Status::Closed,
            ResultsVisibility::AfterClose => self.status == Status::Closed,
            ResultsVisibility::Owner => false,
        }
    }
}

/// A poll's results, as `GET /v1/polls/{id}/results` returns them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub poll_id: String,
    /// The poll's question, so a results view needs nothing else.
    pub question: String,
    pub status: Status,
    pub total_ballots: u64,
    pub options: Vec<OptionResult>,
    pub as_of: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionResult {
    pub id: String,
    pub text: String,
    pub votes: u64,
    /// Share of ballots that picked this option, 0..=100 with 2 decimals (in a
    /// multiple-choice poll they may add up to more than 100).
    pub percent: f64,
}

impl Results {
    /// Results from the tally: `total` ballots and votes per option id.
    pub fn of(poll: &Poll, total: u64, votes: &std::collections::HashMap<String, u64>, as_of: String) -> Self {
        let options = poll
            .options
            .iter()
            .map(|o| {
                let n = votes.get(&o.id).copied().unwrap_or(0);
                let percent = if total == 0 { 0.0 } else { (n as f64 * 10000.0 / total as f64).round() / 100.0 };
                OptionResult { id: o.id.clone(), text: o.text.clone(), votes: n, percent }
            })
            .collect();
        Self {
            poll_id: poll.id.clone(),
            question: poll.question.clone(),
            status: poll.status,
            total_ballots: total,
            options,
            as_of,
        }
    }

    /// A strong validator of what a client sees: status and counts (not `as_of`).
    pub fn etag(&self) -> String {
        let counts: Vec<String> = self.options.iter().map(|o| format!("{}={}", o.id, o.votes)).collect();
        let status = if self.status == Status::Open { "open" } else { "closed" };
        let digest =
            crate::ids::sha256_hex(&format!("{}|{status}|{}|{}", self.poll_id, self.total_ballots, counts.join(",")));
        format!("\"{}\"", &digest[..32])
    }
}

/// A poll as stored, with what only the server needs.
#[derive(Debug, Clone)]
pub struct StoredPoll {
    pub poll: Poll,
    /// A ballot exists: the question, options and choice rules are frozen.
    pub voting_started: bool,
    /// When it was closed by hand: `[from, until)` in epoch ms, oldest first; the last is
    /// open-ended while it is closed. See [`crate::counting`] for why `from` lies ahead
    /// of the closing's commit.
    pub closed: Vec<(u64, Option<u64>)>,
}

impl StoredPoll {
    /// A poll just created.
    pub fn new(poll: Poll) -> Self {
        Self { poll, voting_started: false, closed: Vec::new() }
    }

    /// The times its ballots count in, by [`crate::counting`]'s rule.
    pub fn openings(&self) -> crate::counting::Openings {
        let closes_at_ms = self.poll.closes_at_epoch().map(|at| at * 1000);
        crate::counting::Openings { closes_at_ms, closed: self.closed.clone() }
    }

    /// This poll replaced by `next` at `now_ms`: closing it by hand starts a closed
    /// interval [`crate::counting::CLOSING_DELAY_MS`] ahead, reopening it ends the
    /// interval now (or drops it, when it has not started yet: no ballot was refused for
    /// it that would have counted, since every vote path refuses by the rule it knows).
    pub fn succeeded_by(&self, next: Poll, now_ms: u64) -> Self {
        let mut closed = self.closed.clone();
        match (self.poll.status, next.status) {
            (Status::Open, Status::Closed) => closed.push((now_ms + crate::counting::CLOSING_DELAY_MS, None)),
            (Status::Closed, Status::Open) => match closed.last_mut() {
                Some((from, until @ None)) if *from < now_ms => *until = Some(now_ms),
                Some((_, None)) => {
                    closed.pop();
                }
                _ => {}
            },
            _ => {}
        }
        Self { poll: next, voting_started: self.voting_started, closed }
    }

    /// Why this poll refuses a vote cast at `now_ms`, if it does: closed (by status, by
    /// `closes_at`, or because `now_ms` is not open time by the rule), guests, changes.
    pub fn refuses_vote(&self, voter: Voter<'_>, changing: bool, now_ms: u64) -> Option<Error> {
        if !self.openings().counts_at(now_ms) {
            return Some(Error::Conflict("The poll is closed.".into()));
        }
        self.poll.clone().effective(now_ms / 1000).refuses_vote(voter, changing)
    }
}

impl Poll {
    /// This poll after a lifecycle change to `status` at `now` (RFC 3339): version + 1.
    pub fn next_version(&self, status: Status, now: &str) -> Poll {
        let mut next = self.clone();
        next.status = status;
        next.version += 1;
        now.clone_into(&mut next.updated_at);
        next
    }
}

/// Whether `watcher` may see `poll`'s results now (`GET …/results`, live results): exactly as `GET …/results` decides
/// for a caller (the owner and admins always; then the poll's `results_visibility`), with
/// an anonymous watcher seeing only what everyone sees. `has_voted`: whether the watcher
/// has a ballot on the poll (asked only for a token holder).
pub fn may_watch(poll: &Poll, watcher: Option<&Principal>, has_voted: bool) -> bool {
    match watcher {
        Some(principal) => poll.results_visible_to(principal, has_voted),
        None => poll.results_visible_to(&nobody(), false),
    }
}

/// A principal that is no one: no subject, no role.
fn nobody() -> Principal {
    Principal { sub: String::new(), roles: Vec::new(), token_kind: TokenKind::Guest, email_verified: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::settings;

    const NOW: u64 = 1_790_000_000;

    fn poll(options: &[&str]) -> Poll {
        let s = settings(options);
        Poll::new("p1".into(), "owner".into(), &s, s.check(NOW).unwrap(), "2027-01-15T08:00:00Z")
    }

    #[test]
    fn given_options_that_read_the_same_when_checked_then_the_later_ones_are_duplicates() {
        let look_alike = ["Yes", "Ye\u{200b}s", "YES", "\u{ff39}es", "Y\u{00ad}es", "No", "no\u{feff}", "N  o"];
        let refused = pointers(settings(&look_alike).check(NOW).unwrap_err());
        let expected: Vec<String> = [1, 2, 3, 4, 6].iter().map(|i| format!("#/options/{i}/text")).collect();
        assert_eq!(refused, expected, "`N  o` is not `No`: inner spaces are letters apart");
        assert!(settings(&["👨\u{200d}👩", "👨👩"]).check(NOW).is_err(), "a joiner alone makes no new option");
        assert!(settings(&["Yes", "Yes, but"]).check(NOW).is_ok());
    }

    fn pointers(err: Error) -> Vec<String> {
        match err {
            Error::Validation(errors) => errors.into_iter().map(|e| e.pointer).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn given_choice_limits_as_json_numbers_then_whole_ones_are_read_and_others_refused() {
        let limits = |min: &str| serde_json::from_str::<Change>(&format!(r#"{{"min_choices": {min}}}"#));
        assert_eq!(limits("2").unwrap().min_choices, Some(2));
        assert_eq!(limits("2.0").unwrap().min_choices, Some(2), "JSON Schema's integer allows 2.0");
        for refused in ["2.5", "-1", "-1.0", "1e300", "\"2\"", "null"] {
            assert!(limits(refused).is_err(), "{refused}");
        }
        assert_eq!(serde_json::from_str::<Change>("{}").unwrap().min_choices, None);
    }

    #[test]
    fn given_null_fields_in_a_change_then_only_closes_at_takes_it() {
        let change = serde_json::from_str::<Change>(r#"{"closes_at": null}"#).unwrap();
        assert_eq!(change.closes_at, Some(None), "null removes the closing time");
        for field in ["question", "options", "kind", "visibility", "voters", "allow_guests", "allow_vote_change"] {
            assert!(serde_json::from_str::<Change>(&format!(r#"{{"{field}": null}}"#)).is_err(), "{field}");
        }
        assert!(serde_json::from_str::<Settings>(r#"{"question": "q", "options": [], "voters": null}"#).is_err());
    }

    #[test]
    fn given_valid_settings_when_checked_then_text_is_normalised_and_defaults_apply() {
        let mut s = settings(&["  Pizza ", "Cafe\u{301}"]);
        s.kind = Kind::Multiple;
        let checked = s.check(NOW).unwrap();
        assert_eq!(checked.options, ["Pizza", "Caf\u{e9}"]);
        assert_eq!((checked.min_choices, checked.max_choices), (1, 2));
    }

    #[test]
    fn given_bad_settings_when_checked_then_every_field_is_named() {
        let mut s = settings(&["Yes", " yes", "ok\u{7}", ""]);
        s.question = "q".repeat(10_000);
        s.closes_at = Some("2020-01-01T00:00:00Z".into());
        assert_eq!(
            pointers(s.check(NOW).unwrap_err()),
            ["#/question", "#/options/1/text", "#/options/2/text", "#/options/3/text", "#/closes_at"]
        );
        let many: Vec<String> = (0..21).map(|i| format!("o{i}")).collect();
        let many = settings(&many.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(pointers(many.check(NOW).unwrap_err()), ["#/options"]);
    }

    #[test]
    fn given_choice_rules_when_checked_then_they_must_fit_the_kind_and_options() {
        let mut s = settings(&["a", "b"]);
        s.max_choices = Some(2);
        assert_eq!(pointers(s.check(NOW).unwrap_err()), ["#/max_choices"]);
        s.kind = Kind::Multiple;
        s.max_choices = Some(3);
        assert_eq!(pointers(s.check(NOW).unwrap_err()), ["#/max_choices"]);
        s.min_choices = Some(2);
        s.max_choices = Some(1);
        assert_eq!(pointers(s.check(NOW).unwrap_err()), ["#/min_choices"]);
    }

    #[test]
    fn given_closing_times_when_checked_then_future_within_a_year_only() {
        let mut s = settings(&["a", "b"]);
        s.closes_at = Some("2027-01-15T10:00:00+02:00".into());
        assert_eq!(s.check(NOW).unwrap().closes_at.unwrap().0, "2027-01-15T08:00:00Z");
        s.closes_at = Some("2099-01-01T00:00:00Z".into());
        assert_eq!(pointers(s.check(NOW).unwrap_err()), ["#/closes_at"]);
        s.closes_at = Some("tomorrow".into());
        assert_eq!(pointers(s.check(NOW).unwrap_err()), ["#/closes_at"]);
    }

    #[test]
    fn given_a_ballot_when_checked_then_unknown_duplicate_and_miscounted_picks_are_named() {
        let p = poll(&["a", "b"]);
        let a = p.options[0].id.clone();
        assert_eq!(p.check_ballot(std::slice::from_ref(&a)).unwrap(), [a.as_str()]);
        assert_eq!(pointers(p.check_ballot(&["nope".into()]).unwrap_err()), ["#/option_ids/0"]);
        assert_eq!(pointers(p.check_ballot(&[a.clone(), a.clone()]).unwrap_err()), ["#/option_ids/1", "#/option_ids"]);
        assert_eq!(pointers(p.check_ballot(&[]).unwrap_err()), ["#/option_ids"]);
    }

    #[test]
    fn given_voting_started_when_changed_then_frozen_fields_and_loosening_are_refused() {
        let p = poll(&["a", "b"]);
        let question = Change { question: Some("Dinner?".into()), ..Change::default() };
        assert_eq!(p.apply(&question, false, NOW, "t").unwrap().question, "Dinner?");
        assert!(matches!(p.apply(&question, true, NOW, "t").unwrap_err(), Error::Conflict(_)));
        let guests = Change { allow_guests: Some(true), ..Change::default() };
        assert!(matches!(p.apply(&guests, true, NOW, "t").unwrap_err(), Error::Conflict(_)));
        let hide = Change { results_visibility: Some(ResultsVisibility::Owner), ..Change::default() };
        let hidden = p.apply(&hide, true, NOW, "t").unwrap();
        assert_eq!((hidden.version, hidden.options.clone()), (2, p.options.clone()));
        let show = Change { results_visibility: Some(ResultsVisibility::Always), ..Change::default() };
        assert!(matches!(hidden.apply(&show, true, NOW, "t").unwrap_err(), Error::Conflict(_)));
        assert!(matches!(p.apply(&Change::default(), false, NOW, "t").unwrap_err(), Error::Validation(_)));
    }

    #[test]
    fn given_voters_when_voting_then_each_rule_admits_exactly_its_callers() {
        let (guest, account, verified) = (
            Voter { sub: "g", guest: true, verified: false },
            Voter { sub: "a", guest: false, verified: false },
            Voter { sub: "v", guest: false, verified: true },
        );
        let admitted = |voters: Voters| [guest, account, verified].map(|v| voters.admit(v));
        assert_eq!(admitted(Voters::Guests), [true, true, true]);
        assert_eq!(admitted(Voters::Accounts), [false, true, true]);
        assert_eq!(admitted(Voters::Verified), [false, false, true]);
        let mut p = poll(&["a", "b"]);
        p.voters = Voters::Verified;
        assert!(matches!(p.refuses_vote(account, false), Some(Error::Forbidden)));
        assert!(p.refuses_vote(verified, false).is_none());
    }

    #[test]
    fn given_voters_or_its_alias_allow_guests_when_set_then_one_rule_and_only_narrowing_once_voting_started() {
        let with = |voters: Option<Voters>, allow_guests: Option<bool>| Settings {
            voters,
            allow_guests,
            ..settings(&["a", "b"])
        };
        let voters_of = |s: Settings| s.check(NOW).map(|c| c.voters).ok();
        assert_eq!(voters_of(with(None, None)), Some(Voters::Accounts), "today's default");
        assert_eq!(voters_of(with(None, Some(true))), Some(Voters::Guests));
        assert_eq!(voters_of(with(Some(Voters::Verified), Some(false))), Some(Voters::Verified));
        let contradiction = with(Some(Voters::Guests), Some(false)).check(NOW).unwrap_err();
        assert_eq!(pointers(contradiction), ["#/allow_guests"]);

        let p = poll(&["a", "b"]);
        let change = |voters: Voters| Change { voters: Some(voters), ..Change::default() };
        let verified = p.apply(&change(Voters::Verified), true, NOW, "t").unwrap();
        assert_eq!((verified.voters, verified.allow_guests), (Voters::Verified, false));
        assert!(matches!(verified.apply(&change(Voters::Accounts), true, NOW, "t"), Err(Error::Conflict(_))));
        let guests = verified.apply(&change(Voters::Guests), false, NOW, "t").unwrap();
        assert_eq!((guests.voters, guests.allow_guests), (Voters::Guests, true), "before voting, any way");
        let unrelated = Change { allow_vote_change: Some(true), ..Change::default() };
        assert_eq!(guests.apply(&unrelated, true, NOW, "t").unwrap().voters, Voters::Guests, "kept when not named");
    }

    #[test]
    fn given_a_poll_stored_before_voters_when_read_then_voters_follows_allow_guests() {
        let mut stored = serde_json::to_value(poll(&["a", "b"])).unwrap();
        stored.as_object_mut().unwrap().remove("voters");
        stored["allow_guests"] = serde_json::Value::Bool(true);
        let read: Poll = serde_json::from_value(stored).unwrap();
        assert_eq!(read.upgraded().voters, Voters::Guests);
    }

    #[test]
    fn given_a_closing_time_when_it_passes_then_the_poll_is_closed() {
        let mut p = poll(&["a", "b"]);
        p.closes_at = Some("2027-01-15T08:00:00Z".into());
        let at = p.closes_at_epoch().unwrap();
        assert_eq!(p.clone().effective(at - 1).status, Status::Open);
        assert_eq!(p.effective(at).status, Status::Closed);
    }

    #[test]
    fn given_visibility_rules_when_asked_then_owner_and_admin_always_see() {
        let mut p = poll(&["a", "b"]);
        let caller = |sub: &str, role: &str| Principal {
            sub: sub.into(),
            roles: Role::parse(role).into_iter().collect(),
            token_kind: crate::access::TokenKind::Access,
            email_verified: false,
        };
        p.results_visibility = ResultsVisibility::AfterVote;
        assert!(!p.results_visible_to(&caller("u", "viewer"), false));
        assert!(p.results_visible_to(&caller("u", "viewer"), true));
        p.results_visibility = ResultsVisibility::Owner;
        assert!(!p.results_visible_to(&caller("u", "viewer"), true));
        assert!(p.results_visible_to(&caller("owner", "editor"), false));
        assert!(p.results_visible_to(&caller("x", "admin"), false));
    }

    #[test]
    fn given_counts_when_results_are_made_then_percent_and_etag_follow_them() {
        let p = poll(&["a", "b"]);
        let votes = std::collections::HashMap::from([(p.options[0].id.clone(), 2), (p.options[1].id.clone(), 1)]);
        let r = Results::of(&p, 3, &votes, "t".into());
        assert_eq!(r.options[0].percent, 66.67);
        let mut more = votes.clone();
        more.insert(p.options[1].id.clone(), 2);
        assert_ne!(r.etag(), Results::of(&p, 4, &more, "t".into()).etag());
        assert_eq!(r.etag(), Results::of(&p, 3, &votes, "later".into()).etag());
    }
}
