package main

import (
	"math/rand"
	"strings"
	"unicode/utf8"
)

var (
	companies = []string{"株式会社ミマモリ", "ミマモリ", "サクラ電機", "ヒカリ通信", "みどり銀行", "アオゾラ航空", "山田商事", "Nexus Labs", "ｻｸﾗ電機", "東和ホールディングス", "㈱ミマモリ", "(株)ミマモリ"}
	products  = []string{"ミマモリPro", "ミマモリ Pro", "見守りカメラ", "スマホアプリ", "アプリ", "iPhone版", "Android版", "ｉＰｈｏｎｅアプリ", "Wi-Fiルーター", "クラウドサービス", "ポイントカード", "LINE公式アカウント", "LINE 公式アカウント", "ＬＩＮＥ公式", "サーバー", "ｻｰﾊﾞｰ", "web版", "app", "apps", "v2.3", "新プラン", "光回線"}
	staff     = []string{"田中さん", "田中太郎さん", "佐藤さん", "鈴木店長", "高橋部長", "伊藤さん", "渡辺マネージャー", "中田さん", "山中さん", "担当の田中", "オペレーター", "サポートの人", "店員さん", "受付の方"}
	places    = []string{"駅前の店舗", "新宿店", "コールセンター", "窓口", "電話", "メール", "チャット", "公式サイト", "SNS", "問い合わせフォーム", "大阪支店"}
	times     = []string{"今日", "昨日", "先週", "朝から", "夜中に", "3日前", "１０分", "30分", "２時間", "一ヶ月", "何度も", "さっき"}
	things    = []string{"料金", "請求書", "解約", "返金", "予約", "配送", "商品", "ログイン", "ﾛｸﾞｲﾝ", "パスワード", "個人情報", "ポイント", "アップデート", "エラー", "error 404", "bug", "login", "画面", "通知", "設定", "契約", "サポート", "ｻﾎﾟｰﾄ", "サービス"}
	complaint = []string{"対応が遅い", "最悪", "二度と使わない", "説明がわかりにくい", "電話がつながらない", "返金してほしい", "不具合が多い", "アプリが落ちる", "ログインできない", "料金が高すぎる", "態度が悪い", "ひどすぎる", "意味がわからない", "いつまで待たせるの", "全然だめ", "ありえない"}
	praise    = []string{"ありがとうございました", "神対応", "丁寧な説明で助かりました", "最高です", "おすすめです", "満足しています", "また利用したい", "とても親切でした", "すぐに解決しました", "感動した", "ありがとう"}
	abuse     = []string{"詐欺", "詐欺師", "詐欺会社", "無能", "無能すぎる", "殺す", "ぶっ殺す", "殺してやる", "死ね", "クソ", "ゴミ", "バカ", "訴える", "消えろ"}
	ascii     = []string{"OK", "lol", "www", "orz", "#拡散希望", "@support", "LINE", "iPhone", "Android", "Wi-Fi", "ERROR", "app", "FAQ", "NG"}
	ends      = []string{"。", "！", "？", "…", "!!", "。。", " ", "w", "（怒）", "笑"}
	connects  = []string{"けど", "ので", "し", "のに", "から"}
)

type gen struct{ r *rand.Rand }

func (g gen) p(xs []string) string { return xs[g.r.Intn(len(xs))] }

func (g gen) sentence() string {
	switch g.r.Intn(18) {
	case 0:
		return g.p(staff) + "の対応が" + g.p(complaint) + g.p(ends)
	case 1:
		return g.p(companies) + "の" + g.p(products) + "、" + g.p(complaint) + g.p(ends)
	case 2:
		return g.p(times) + g.p(places) + "に" + g.p(things) + "について問い合わせた" + g.p(connects) + "、" + g.p(complaint) + g.p(ends)
	case 3:
		return g.p(staff) + "が" + g.p(praise) + g.p(ends)
	case 4:
		return g.p(companies) + "は" + g.p(abuse) + g.p(ends)
	case 5:
		return g.p(staff) + "は" + g.p(abuse) + "。" + g.p(complaint) + g.p(ends)
	case 6:
		return g.p(products) + "の" + g.p(things) + "で" + g.p(ascii) + "が出る" + g.p(ends)
	case 7:
		return g.p(places) + "の" + g.p(staff) + "に" + g.p(praise) + g.p(ends)
	case 8:
		return g.p(things) + "が" + g.p(complaint) + "。" + g.p(companies) + "、" + g.p(abuse) + g.p(ends)
	case 9:
		return g.p(times) + g.p(products) + "を使ってみた" + g.p(connects) + g.p(praise) + g.p(ends)
	case 10:
		return g.p(ascii) + " " + g.p(ascii) + " " + g.p(things) + g.p(ends)
	case 11:
		return "本当に" + g.p(abuse) + "だと思う" + g.p(ends)
	case 12:
		return g.p(companies) + "の" + g.p(places) + "で" + g.p(things) + "の手続きをした" + g.p(ends)
	case 13:
		return g.p(things) + "の件、" + g.p(staff) + "が" + g.p(times) + "で" + g.p(praise) + g.p(ends)
	case 14:
		return "#" + g.p(companies) + " " + g.p(complaint) + g.p(ends)
	case 15:
		return g.p(times) + "天気がいいので散歩した。" + g.p(products) + "で写真を撮った" + g.p(ends)
	case 16:
		return g.p(products) + "の" + g.p(things) + "、" + g.p(connects) + g.p(abuse) + "って言われても" + g.p(ends)
	default:
		return "ランチは" + g.p([]string{"ラーメン", "カレー", "寿司", "パスタ", "定食"}) + "。" + g.p(times) + "の" + g.p(things) + "の話は" + g.p(praise) + g.p(ends)
	}
}

// genCorpus returns n posts of 30..200 runes, deterministic for a seed.
func genCorpus(n int, seed int64) []string {
	g := gen{rand.New(rand.NewSource(seed))}
	docs := make([]string, n)
	for i := range docs {
		target := 30 + g.r.Intn(171)
		var b strings.Builder
		for utf8.RuneCountInString(b.String()) < target {
			b.WriteString(g.sentence())
		}
		s := b.String()
		if rs := []rune(s); len(rs) > 200 {
			s = string(rs[:200])
		}
		docs[i] = s
	}
	return docs
}

// 30 queries. Includes 2-char words, katakana, mixed script, ASCII, a 1-char query.
var queries = []string{
	"詐欺", "無能", "田中", "殺す", "死ね", "サポート", "アプリ", "ログイン", "サーバー", "LINE公式",
	"iPhone", "wi-fi", "殺", "株式会社ミマモリ", "サクラ電機", "鈴木店長", "対応が遅い", "最悪", "二度と使わない", "返金",
	"解約", "料金が高すぎる", "ありがとう", "神対応", "電話がつながらない", "(株)ミマモリ", "app", "個人情報", "ミマモリPro", "訴える",
}
