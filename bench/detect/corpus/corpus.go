// Package corpus generates, deterministically from a seed, the pattern
// lists and post corpora used to benchmark the detector against GNU grep:
// Japanese and English social-media posts about a fictional company, one
// post a line, and user pattern terms (Japanese and ASCII) some of which
// the posts contain.
package corpus

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Company is the fictional company the generated posts talk about.
const (
	CompanyName  = "株式会社アサギ通信"
	CompanyAlias = "アサギ通信"
	CompanyLatin = "Asagi Tsushin"
	StaffName    = "森本直樹"
	StaffAlias   = "森本"
)

// kanji is a pool of common kanji for generated Japanese terms.
const kanji = "一右雨円王音下火花貝学気九休玉金空月犬見五口校左三山子四糸字耳七車手十出女小上森人水正生青夕石赤千川先早草足村大男竹中虫町天田土二日入年白八百文木本名目立力林六引羽雲園遠何科夏家歌画回会海絵外角楽活間丸岩顔汽記帰弓牛魚京強教近兄形計元言原戸古午後語工公広交光考行高黄合谷国黒今才細作算止市矢姉思紙寺自時室社弱首秋週春書少場色食心新親図数西声星晴切雪船線前組走多太体台地池知茶昼長鳥朝直通弟店点電刀冬当東答頭同道読内南肉馬売買麦半番父風分聞米歩母方北毎妹万明鳴毛門夜野友用曜来里理話悪安暗医委意育員院飲運泳駅央横屋温化荷界開階寒感漢館岸起期客究急級宮球去橋業曲局銀区苦具君係軽血決研県庫湖向幸港号根祭皿仕死使始指歯詩次事持式実写者主守取酒受州拾終習集住重宿所暑助昭消商章勝乗植申身神真深進世整昔全相送想息速族他打対待代第題炭短談着注柱丁帳調追定庭笛鉄転都度投豆島湯登等動童農波配倍箱畑発反坂板皮悲美鼻筆氷表秒病品負部服福物平返勉放味命面問役薬由油有遊予羊洋葉陽様落流旅両緑礼列練路和"

// kata is a pool of katakana for generated terms.
const kata = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワンガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポ"

var syll = []string{"ka", "ki", "ku", "ke", "ko", "sa", "shi", "su", "se", "so", "ta", "chi", "tsu", "te", "to",
	"na", "ni", "nu", "ne", "no", "ma", "mi", "mu", "me", "mo", "ra", "ri", "ru", "re", "ro", "ba", "bi", "bu",
	"be", "bo", "za", "zu", "de", "do", "ga", "gi", "go", "pa", "po", "ya", "yu", "yo", "wa", "n", "ex", "ol", "ur",
	"an", "in", "on", "st", "tr", "pl", "br", "cl", "fl", "gr", "th", "sh", "qu", "er", "ly", "ing", "ed", "al"}

// Patterns returns n distinct pattern terms: about 60% Japanese (kanji
// compounds, katakana words, mixed kanji+kana) and 40% ASCII (pseudo-words
// and two-word phrases), every one at least 2 runes (Japanese) or 5 bytes
// (ASCII).
func Patterns(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	kr, kt := []rune(kanji), []rune(kata)
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		var b strings.Builder
		switch k := r.IntN(10); {
		case k < 3: // kanji compound, 2..4
			for range 2 + r.IntN(3) {
				b.WriteRune(kr[r.IntN(len(kr))])
			}
		case k < 5: // katakana word, 3..6
			for range 3 + r.IntN(4) {
				b.WriteRune(kt[r.IntN(len(kt))])
			}
		case k < 6: // kanji + okurigana-like kana
			for range 1 + r.IntN(2) {
				b.WriteRune(kr[r.IntN(len(kr))])
			}
			b.WriteString([]string{"する", "した", "しろ", "野郎", "過ぎ", "っぽい", "すぎる", "だろ"}[r.IntN(8)])
		case k < 9: // ASCII pseudo-word
			for b.Len() < 5+r.IntN(5) {
				b.WriteString(syll[r.IntN(len(syll))])
			}
		default: // two ASCII words
			for b.Len() < 4+r.IntN(3) {
				b.WriteString(syll[r.IntN(len(syll))])
			}
			b.WriteByte(' ')
			for range 2 + r.IntN(2) {
				b.WriteString(syll[r.IntN(len(syll))])
			}
		}
		s := b.String()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

var (
	jaSubjects = []string{CompanyAlias, CompanyName, "ｱｻｷﾞ通信", "アサギ", StaffAlias + "さん", "アサギ通信の" + StaffAlias,
		"近所のスーパー", "うちの猫", "友達", "会社の先輩", "駅前のカフェ", "新しいスマホ", "隣の家の人", "妹", "部長",
		"コールセンター", "サポート窓口", "光回線", "格安SIM", "アサギ通信のアプリ"}
	jaTopics = []string{"料金プラン", "解約手続き", "請求書", "通信速度", "機種変更", "ポイント", "引っ越しの手続き",
		"ルーターの設定", "キャンペーン", "契約内容", "天気", "ランチ", "週末の予定", "新作のゲーム", "電車の遅延"}
	jaPreds = []string{"が遅すぎて困る", "の説明が丁寧で助かった", "について問い合わせた", "は思ったより安かった",
		"がまた変わったらしい", "で三十分も待たされた", "が分かりにくい", "は問題なく終わった", "がつながらない",
		"がとても良かった", "を比較してみた", "で迷っている", "の件はもう少し様子を見る", "は最悪だった",
		"に満足している", "がおかしい気がする", "の案内が届いた", "を見直したい"}
	jaTails = []string{"。", "！", "…", "w", "ｗｗ", "（笑）", "😭", "👍", "?", "。。", "!!", "", "💢", "。本当に"}
	jaConj  = []string{"けど、", "ので", "し、", "。", "のに", "。ちなみに", "、あと", "。それと"}
	enSubj  = []string{CompanyLatin, "Asagi", "their support", "my router", "the new plan", "the app", "my sister",
		"the cafe downstairs", "this phone", "the billing team", "customer service", "the fiber line", "Morimoto"}
	enPreds = []string{"is way too slow", "was really helpful today", "changed the price again", "keeps dropping the connection",
		"took forever to answer", "is fine I guess", "explained everything clearly", "sent me the wrong bill",
		"is cheaper than I expected", "finally works after the update", "has the worst hold music", "is pretty good"}
	enTails = []string{".", "!", " lol", "...", " :(", " 🙄", "?", " #fail", ""}
	extras  = []string{" https://example.com/p/12345", " #アサギ通信", " @asagi_support", " (2回目)", " ＃拡散希望", " [画像]"}
)

// Writer writes posts, one a line.
type Writer struct {
	r        *rand.Rand
	patterns []string
	inject   float64
}

// NewWriter returns a post generator; inject is the probability that a post
// carries one of patterns (0 for none).
func NewWriter(seed uint64, patterns []string, inject float64) *Writer {
	return &Writer{r: rand.New(rand.NewPCG(seed, 0xda3e39cb94b95bdb)), patterns: patterns, inject: inject}
}

func (w *Writer) pick(xs []string) string { return xs[w.r.IntN(len(xs))] }

// Post returns one post of roughly 40..400 runes.
func (w *Writer) Post() string {
	var b strings.Builder
	target := 40 + w.r.IntN(w.r.IntN(360)+1)
	english := w.r.IntN(5) == 0
	for utf8.RuneCountInString(b.String()) < target {
		if english {
			b.WriteString(w.pick(enSubj) + " " + w.pick(enPreds) + w.pick(enTails) + " ")
			continue
		}
		b.WriteString(w.pick(jaSubjects) + "の" + w.pick(jaTopics) + w.pick(jaPreds))
		if w.r.IntN(3) == 0 {
			b.WriteString(w.pick(jaConj))
		} else {
			b.WriteString(w.pick(jaTails))
		}
	}
	if w.r.IntN(6) == 0 {
		b.WriteString(w.pick(extras))
	}
	s := b.String()
	if len(w.patterns) > 0 && w.r.Float64() < w.inject {
		p := w.patterns[w.r.IntN(len(w.patterns))]
		// insert at a rune boundary, with spaces around ASCII terms
		rs := []rune(s)
		at := w.r.IntN(len(rs) + 1)
		if p[0] < utf8.RuneSelf {
			p = " " + p + " "
		}
		s = string(rs[:at]) + p + string(rs[at:])
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// WriteCorpus writes posts to out until at least size bytes are written and
// returns the number of posts.
func WriteCorpus(out io.Writer, size int64, seed uint64, patterns []string, inject float64) (int, error) {
	bw := bufio.NewWriterSize(out, 1<<20)
	w := NewWriter(seed, patterns, inject)
	var n int64
	posts := 0
	for n < size {
		p := w.Post()
		k, err := fmt.Fprintln(bw, p)
		if err != nil {
			return posts, err
		}
		n += int64(k)
		posts++
	}
	return posts, bw.Flush()
}

// userCategories receive the generated terms in turn.
var userCategories = []string{"threat", "doxxing", "defamation", "insult", "intimidation", "discrimination",
	"sexual", "disruption", "unauthorized_recording", "unreasonable_demand"}

// Pack returns terms as a user pattern pack (YAML): one rule per abusive
// category, the terms dealt out in turn.
func Pack(terms []string) ([]byte, error) {
	type ruleY struct {
		ID       string   `yaml:"id"`
		Category string   `yaml:"category"`
		Terms    []string `yaml:"terms,flow"`
	}
	rules := make([]ruleY, len(userCategories))
	for i, c := range userCategories {
		rules[i] = ruleY{ID: "user-" + c, Category: c}
	}
	for i, t := range terms {
		rules[i%len(rules)].Terms = append(rules[i%len(rules)].Terms, t)
	}
	return yaml.Marshal(map[string]any{"version": 1, "rules": rules})
}
