package detect

import (
	"strings"
	"testing"

	"mimamori/mention"
)

var benchTargets = []mention.Target{
	{ID: "acme", Kind: mention.KindCompany, Name: "株式会社アクメ通信", Aliases: []string{"アクメ通信", "アクメ", "Acme Tsushin"}},
	{ID: "phone", Kind: mention.KindProduct, Name: "アクメモバイル"},
	{ID: "staff-yamada", Kind: mention.KindStaff, Name: "山田花子", Aliases: []string{"山田"}},
}

// benchCorpus is a mix of ordinary posts, complaints and abusive posts in
// Japanese and English, about 4 KB.
var benchCorpus = strings.Join([]string{
	"アクメ通信の光回線に乗り換えて三か月、速度は安定していて満足しています。",
	"昨日アクメのショップに行ったら、店員さんが丁寧に料金プランを説明してくれた。",
	"アクメ通信のサポート、電話が全然つながらない。改善してほしい。",
	"アクメモバイルの新機種、カメラがかなり良くなったらしい。",
	"アクメ通信の山田、対応が最悪だったし正直ムカついた",
	"アクメの山田って店員、マジで無能。クビにしろ",
	"Acme Tsushin raised prices again, which is disappointing but expected.",
	"Anyone know if Acme Tsushin covers rural Hokkaido? Thinking of switching.",
	"今日は天気がいいので散歩に行った。駅前のカフェのケーキがおいしかった。",
	"ｱｸﾒ通信は詐 欺 会 社。みんな騙されるな",
	"週末は家族で公園に行き、子供たちとボール遊びをして過ごしました。",
	"The weather in Tokyo has been great this week, perfect for a walk along the river.",
	"アクメ通信の株価が上がっている。決算発表が好調だったようだ。",
	"料金の請求額が説明と違うので、アクメに問い合わせ中です。",
}, "\n")

func BenchmarkDetect(b *testing.B) {
	d, err := New(benchTargets, Options{})
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat(benchCorpus+"\n", 4)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		d.Detect(text)
	}
}

// BenchmarkDetectPost measures one short post, the common case.
func BenchmarkDetectPost(b *testing.B) {
	d, err := New(benchTargets, Options{})
	if err != nil {
		b.Fatal(err)
	}
	text := "アクメの山田って店員、マジで無能。クビにしろ"
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		d.Detect(text)
	}
}

func BenchmarkNormalize(b *testing.B) {
	text := strings.Repeat(benchCorpus+"\n", 4)
	var n normText
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		n.normalize(text)
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(benchTargets, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
