//! A deterministic, realistic chat corpus for chatvault's demo, benchmarks
//! and tests: multilingual chat-length messages (median about 40 bytes, a
//! long tail to a few KiB), many senders, replies, timestamps spread over
//! years, and conversations whose sizes follow a skewed (Zipf-like)
//! distribution. The same seed always gives the same corpus.
//!
//! It does not depend on chatvault, so baselines (plain SQLite, SQLCipher)
//! can load exactly the same data.

/// A small, fast, seedable generator (SplitMix64). Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const EN: &[&str] = &[
    "ok",
    "sounds good",
    "see you soon",
    "running late, sorry",
    "did you see the game last night?",
    "can you send me the address?",
    "haha",
    "lol that's amazing",
    "on my way",
    "thanks!",
    "what time works for you tomorrow?",
    "I'll call you later",
    "happy birthday!!",
    "yes",
    "no worries",
    "let me check and get back to you",
    "the meeting moved to 3pm",
    "good morning",
    "miss you",
    "did you eat yet?",
    "just landed",
    "traffic is terrible today",
    "love it",
    "sure thing",
];
const FR: &[&str] = &[
    "d'accord",
    "à tout à l'heure",
    "tu es où ?",
    "je suis en retard, désolé",
    "bonne nuit",
    "merci beaucoup !",
    "ça marche",
    "on se voit demain ?",
    "c'est génial",
    "je t'appelle ce soir",
    "bon appétit",
    "quelle heure ?",
    "j'arrive",
    "très bien, et toi ?",
    "à bientôt",
];
const ZH: &[&str] = &[
    "好的",
    "你吃饭了吗？",
    "我马上到",
    "明天见",
    "谢谢！",
    "哈哈哈",
    "晚安",
    "在吗？",
    "今天天气真好",
    "我们几点见面？",
    "收到",
    "辛苦了",
    "生日快乐！",
    "路上堵车了",
    "没问题",
    "周末一起去爬山吧",
    "你到家了吗？",
    "等我一下",
];
const JA: &[&str] = &[
    "了解です",
    "ありがとう！",
    "今どこ？",
    "もうすぐ着くよ",
    "また明日",
    "おやすみなさい",
    "東京駅で会いましょう",
    "コンピューターが壊れた",
    "ラーメン食べに行こう",
    "遅れてごめんね",
    "今日は雨だね",
    "お疲れさまでした",
    "週末は空いてる？",
    "誕生日おめでとう！",
    "写真を送ってください",
    "大丈夫です",
];
const KO: &[&str] = &[
    "알겠어",
    "고마워요!",
    "어디야?",
    "곧 도착해",
    "내일 봐요",
    "잘 자요",
    "학교에서 만나요",
    "점심 먹었어?",
    "늦어서 미안해",
    "오늘 날씨 좋다",
    "수고하셨습니다",
    "주말에 시간 있어?",
    "생일 축하해!",
    "사진 보내줘",
    "괜찮아요",
    "서울역 앞에서 기다릴게",
];
const EMOJI: &[&str] =
    &["😂", "👍", "❤️", "🎉", "🙏", "😊", "🔥", "😭", "👋", "🥳", "🍜", "☕", "🇫🇷", "🇨🇳", "👨‍👩‍👧"];
const NAMES: &[&str] = &[
    "alice",
    "bob",
    "chloé",
    "david",
    "émilie",
    "françois",
    "李明",
    "王芳",
    "张伟",
    "刘洋",
    "sam",
    "olivia",
    "noah",
    "léa",
    "hugo",
    "陈静",
    "mia",
    "lucas",
    "zoé",
    "杨磊",
    "mom",
    "dad",
];
const TOPICS: &[&str] = &[
    "Family",
    "Weekend plans",
    "Work",
    "Book club",
    "Climbing",
    "周末聚餐",
    "Voisins",
    "Project Falcon",
    "Roommates",
    "大学同学",
    "Soirée jeux",
    "Marathon training",
];

/// One generated conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSpec {
    /// The app's id for it, unique in the corpus.
    pub external_id: String,
    /// Its title.
    pub title: String,
    /// Its members, the owner (`me`) first.
    pub members: Vec<String>,
    /// How many messages it gets.
    pub messages: usize,
    /// When it was created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Seed of its message stream.
    pub seed: u64,
}

/// One generated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSpec {
    /// The server's id for it, unique within its conversation.
    pub external_id: String,
    /// Who sent it.
    pub sender: String,
    /// When, ms since the Unix epoch.
    pub sent_at_ms: i64,
    /// Its text.
    pub text: String,
    /// Index (within its conversation) of the message it replies to.
    pub reply_to: Option<usize>,
}

/// 2019-01-01T00:00:00Z, where corpus time starts.
pub const EPOCH_MS: i64 = 1_546_300_800_000;
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

/// `n` conversations sharing `total_messages` messages with a skewed
/// distribution: a few very large conversations, many small ones.
pub fn conversations(seed: u64, n: usize, total_messages: usize) -> Vec<ConversationSpec> {
    let mut rng = Rng::new(seed);
    // Zipf-like weights 1/(rank+1)^1.1, randomly permuted over conversations.
    let weights: Vec<f64> = (0..n).map(|r| 1.0 / ((r + 1) as f64).powf(1.1)).collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<usize> =
        weights.iter().map(|w| ((w / sum) * total_messages as f64) as usize).collect();
    let assigned: usize = sizes.iter().sum();
    if let Some(first) = sizes.first_mut() {
        *first += total_messages.saturating_sub(assigned);
    }
    for i in (1..n).rev() {
        sizes.swap(i, rng.below(i as u64 + 1) as usize);
    }
    sizes
        .into_iter()
        .enumerate()
        .map(|(i, messages)| {
            let group = rng.chance(0.3);
            let mut members = vec!["me".to_string()];
            let others = if group { 2 + rng.below(12) } else { 1 };
            for _ in 0..others {
                let name = rng.pick(NAMES).to_string();
                if !members.contains(&name) {
                    members.push(name);
                }
            }
            let title =
                if group { format!("{} {}", rng.pick(TOPICS), rng.pick(EMOJI)) } else { members[1].clone() };
            ConversationSpec {
                external_id: format!("conv-{i:06}"),
                title,
                members,
                messages,
                created_at_ms: EPOCH_MS + rng.below(YEAR_MS as u64) as i64,
                seed: rng.next_u64(),
            }
        })
        .collect()
}

/// A message's language: English 40%, French 20%, Chinese 20%, Japanese
/// and Korean 10% each.
fn language(rng: &mut Rng) -> &'static [&'static str] {
    match rng.below(10) {
        0..=3 => EN,
        4..=5 => FR,
        6..=7 => ZH,
        8 => JA,
        _ => KO,
    }
}

/// One of `items`.
fn one(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    items[rng.below(items.len() as u64) as usize]
}

/// A chat-length text: mostly short phrases in English, French, Chinese,
/// Japanese or Korean with emoji, sometimes a few sentences, rarely a long
/// paste (KiBs).
pub fn text(rng: &mut Rng) -> String {
    let items = language(rng);
    let phrase = |rng: &mut Rng| -> &'static str { one(rng, items) };
    let parts = match rng.below(100) {
        0..=54 => 1,
        55..=84 => 2,
        85..=96 => 3 + rng.below(4) as usize,
        _ => 10 + rng.below(120) as usize,
    };
    let mut s = String::new();
    for i in 0..parts {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(phrase(rng));
        if rng.chance(0.15) {
            s.push(' ');
            s.push_str(one(rng, EMOJI));
        }
    }
    s
}

/// A short chat line: phrases of one language joined until the line
/// reaches a length drawn evenly from 20 to 69 bytes (median about 45),
/// with an emoji now and then: the shape of most messages of a busy chat.
pub fn short_line(rng: &mut Rng) -> String {
    let items = language(rng);
    let target = 20 + rng.below(50) as usize;
    let mut s = String::new();
    while s.len() < target {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(one(rng, items));
        if rng.chance(0.15) {
            s.push(' ');
            s.push_str(one(rng, EMOJI));
        }
    }
    s
}

/// The messages of a conversation, in order.
pub fn messages(conv: &ConversationSpec) -> impl Iterator<Item = MessageSpec> + '_ {
    let mut rng = Rng::new(conv.seed);
    let span = (4 * YEAR_MS).max(1) as u64;
    let step = (span / conv.messages.max(1) as u64).max(1);
    let mut t = conv.created_at_ms;
    (0..conv.messages).map(move |i| {
        t += 1 + rng.below(2 * step) as i64;
        let sender = rng.pick(&conv.members).clone();
        let reply_to = (i > 0 && rng.chance(0.08)).then(|| i - 1 - rng.below(i.min(20) as u64) as usize);
        MessageSpec {
            external_id: format!("{}-{i}", conv.external_id),
            sender,
            sent_at_ms: t,
            text: text(&mut rng),
            reply_to,
        }
    })
}

/// The messages of all `convs` interleaved as a sync would deliver them:
/// `(conversation index, message)`, each conversation's messages in order,
/// the next conversation drawn with probability proportional to the
/// messages it has left (so large conversations stay busy throughout).
/// Lazy, and O(log n) a message in the number of conversations: a
/// 10,000,000-message stream never holds more than one message per
/// conversation.
pub fn interleaved(seed: u64, convs: &[ConversationSpec]) -> impl Iterator<Item = (usize, MessageSpec)> + '_ {
    let mut per: Vec<_> = convs.iter().map(messages).collect();
    let mut left = Remaining::new(convs.iter().map(|c| c.messages));
    let mut rng = Rng::new(seed);
    std::iter::from_fn(move || {
        while left.total > 0 {
            let i = left.take(rng.below(left.total as u64) as usize);
            if let Some(m) = per.get_mut(i).and_then(Iterator::next) {
                return Some((i, m));
            }
        }
        None
    })
}

/// Messages left per conversation, as a Fenwick tree: finding the
/// conversation that holds the k-th remaining message is O(log n).
struct Remaining {
    tree: Vec<usize>,
    total: usize,
}

impl Remaining {
    fn new(counts: impl Iterator<Item = usize>) -> Remaining {
        let counts: Vec<usize> = counts.collect();
        let mut tree = vec![0; counts.len() + 1];
        for (i, &c) in counts.iter().enumerate() {
            let mut j = i + 1;
            while j < tree.len() {
                tree[j] += c;
                j += j & j.wrapping_neg();
            }
        }
        Remaining { tree, total: counts.iter().sum() }
    }

    /// The index of the conversation holding remaining message `k`
    /// (`k < total`), whose count goes down by one.
    fn take(&mut self, mut k: usize) -> usize {
        let n = self.tree.len() - 1;
        let mut pos = 0;
        let mut step = n.checked_next_power_of_two().unwrap_or(0);
        while step > 0 {
            if pos + step <= n && self.tree[pos + step] <= k {
                pos += step;
                k -= self.tree[pos];
            }
            step /= 2;
        }
        // `pos` is the number of conversations before the chosen one.
        let mut j = pos + 1;
        while j <= n {
            self.tree[j] -= 1;
            j += j & j.wrapping_neg();
        }
        self.total -= 1;
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_and_skewed() {
        let a = conversations(7, 200, 100_000);
        assert_eq!(a, conversations(7, 200, 100_000));
        assert_eq!(a.iter().map(|c| c.messages).sum::<usize>(), 100_000);
        let mut sizes: Vec<_> = a.iter().map(|c| c.messages).collect();
        sizes.sort_unstable();
        assert!(sizes[199] > 10_000, "the largest conversation holds tens of thousands");
        assert!(sizes[100] < 500, "the median conversation is small");
        let m1: Vec<_> = messages(&a[0]).take(100).collect();
        assert_eq!(m1, messages(&a[0]).take(100).collect::<Vec<_>>());
    }

    #[test]
    fn remaining_picks_the_conversation_holding_the_kth_message() {
        let mut counts = [3, 0, 5, 1, 0, 0, 7, 2];
        let mut tree = Remaining::new(counts.iter().copied());
        let mut rng = Rng::new(9);
        while tree.total > 0 {
            let k = rng.below(tree.total as u64) as usize;
            // The linear answer: the first index whose running sum passes k.
            let mut sum = 0;
            let want = counts.iter().position(|&c| {
                sum += c;
                sum > k
            });
            assert_eq!(Some(tree.take(k)), want);
            counts[want.unwrap()] -= 1;
            assert_eq!(tree.total, counts.iter().sum::<usize>());
        }
    }

    #[test]
    fn interleaving_keeps_every_message_once_in_order() {
        let convs = conversations(3, 20, 5_000);
        let stream: Vec<_> = interleaved(3, &convs).collect();
        assert_eq!(stream.len(), 5_000);
        for (i, c) in convs.iter().enumerate() {
            let got: Vec<_> = stream.iter().filter(|(j, _)| *j == i).map(|(_, m)| m.clone()).collect();
            assert_eq!(got, messages(c).collect::<Vec<_>>(), "conversation {i}");
        }
        // Interleaved, not one conversation after another.
        let switches = stream.windows(2).filter(|w| w[0].0 != w[1].0).count();
        assert!(switches > 1_000, "{switches} switches");
        assert_eq!(stream, interleaved(3, &convs).collect::<Vec<_>>());
    }

    #[test]
    fn message_lengths_look_like_chat() {
        let mut rng = Rng::new(1);
        let mut lens: Vec<usize> = (0..20_000).map(|_| text(&mut rng).len()).collect();
        lens.sort_unstable();
        let median = lens[lens.len() / 2];
        assert!((20..=60).contains(&median), "median {median}");
        assert!(lens[lens.len() - 1] > 1000, "a long tail");
    }
}
