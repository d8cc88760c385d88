package detect

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"mimamori/mention"
)

// testTargets is a fictional company of our own, unrelated to the dev set.
var testTargets = []mention.Target{
	{ID: "minato", Kind: mention.KindCompany, Name: "株式会社ミナトテレコム",
		Aliases: []string{"ミナトテレコム", "ミナト", "Minato Telecom", "MinatoTel"}},
	{ID: "mwifi", Kind: mention.KindProduct, Name: "ミナトWiFi"},
	{ID: "staff-sato", Kind: mention.KindStaff, Name: "佐藤健太", Aliases: []string{"佐藤", "Sato"}},
	{ID: "staff-ito", Kind: mention.KindStaff, Name: "伊藤美咲", Aliases: []string{"伊藤"},
		Context: []string{"ミナト", "店長", "窓口"}, Exclude: []string{"伊藤園"}},
}

var (
	testDetOnce sync.Once
	testDet     *Detector
	testDetErr  error
)

func testDetector(t testing.TB) *Detector {
	t.Helper()
	testDetOnce.Do(func() { testDet, testDetErr = New(testTargets, Options{}) })
	if testDetErr != nil {
		t.Fatal(testDetErr)
	}
	return testDet
}

type alertCase struct {
	text     string
	category string // expected main category
	target   string // expected among Targets
}

// Positive examples per category, written for these tests.
var positives = []alertCase{
	{"ミナトテレコムの佐藤、次に店で会ったら刺してやるからな", CatThreat, "staff-sato"},
	{"ミナトテレコムの本社に火をつけてやる", CatThreat, "minato"},
	{"I will kill that Sato guy from Minato Telecom", CatThreat, "staff-sato"},
	{"ミナトの佐藤、お前の子供の保育園知ってるからな", CatThreat, "staff-sato"},

	{"ミナトテレコムの佐藤の住所特定した、晒しとくわ", CatDoxxing, "staff-sato"},
	{"ミナトの佐藤健太の携帯は 090-1111-2222 だってさ", CatDoxxing, "staff-sato"},
	{"Here is the home address of Sato, the Minato Telecom clerk", CatDoxxing, "staff-sato"},

	{"ミナトテレコムは客から金を騙し取る詐欺集団", CatDefamation, "minato"},
	{"ミナトの佐藤は会社の金を横領している", CatDefamation, "staff-sato"},
	{"Minato Telecom is a scam run by crooks", CatDefamation, "minato"},

	{"ミナトテレコムの佐藤ってほんとに役立たず", CatInsult, "staff-sato"},
	{"ミナトテレコムの窓口、ｸｽﾞばっかり", CatInsult, "minato"},
	{"Minato Telecom support staff are useless idiots", CatInsult, "minato"},
	{"ミナトテレコムなんか潰れろ", CatInsult, "minato"},

	{"ミナトテレコムの佐藤、覚悟しとけよ", CatIntimidation, "staff-sato"},
	{"ミナトテレコムの窓口に行ったけど、店長は土下座しろ", CatIntimidation, "minato"},
	{"Minato Telecom, you will regret this", CatIntimidation, "minato"},

	{"ミナトテレコムのコールセンター、日本語が怪しい。外国人はいらない", CatDiscrimination, "minato"},
	{"ミナトの伊藤店長、女のくせに偉そう", CatDiscrimination, "staff-ito"},
	{"Minato Telecom hired a bunch of retards", CatDiscrimination, "minato"},

	{"ミナトテレコムの伊藤さん、胸でかいしエロい", CatSexual, "staff-ito"},
	{"That girl at the Minato Telecom counter is so sexy", CatSexual, "minato"},

	{"ミナトテレコムに電凸しようぜ", CatDisruption, "minato"},
	{"みんなでミナトテレコムのサポートに苦情の電話入れまくろう", CatDisruption, "minato"},
	{"Let's flood their phones, Minato Telecom deserves it", CatDisruption, "minato"},

	{"ミナトテレコムの店員の顔こっそり撮ってやった", CatUnauthorizedRecording, "minato"},
	{"ミナトの佐藤を隠し撮りしたから後で上げる", CatUnauthorizedRecording, "staff-sato"},
	{"I secretly filmed the Minato Telecom clerk", CatUnauthorizedRecording, "minato"},

	{"ミナトテレコムは迷惑料として十万円払え", CatUnreasonableDemand, "minato"},
	{"ミナトテレコムの佐藤をクビにしろ", CatUnreasonableDemand, "staff-sato"},
	{"Minato Telecom ruined my week, fire him now", CatUnreasonableDemand, "minato"},
}

// Negative examples: legitimate complaints, praise, news, negation,
// quotations, abuse of nobody or of another company.
var negatives = []string{
	"ミナトテレコムの回線が夜になると遅すぎる。改善してほしい",
	"Minato Telecom support is too slow, took forever to answer",
	"ミナトテレコムの佐藤さん、説明が丁寧で助かりました",
	"ミナトテレコムが新料金プランを発表",
	"ミナトテレコムに殺害予告、警察が威力業務妨害の疑いで捜査",
	"ミナトテレコムは詐欺ではないと思う、対応も丁寧だった",
	"ミナトテレコムを名乗る詐欺メールに注意してください",
	"Minato Telecom is not a scam, just a bit pricey",
	"「ミナトテレコムは詐欺」という書き込みを見たけど、そうは思わない",
	"ミナトテレコムの店員さんを晒すのはやめましょう",
	"ミナトテレコムで働いてるけど、私は無能だから毎日怒られる",
	"ミナトテレコムのカスタマーサポートに問い合わせた",
	"ミナトテレコムの新しいスマホはバカ売れしているらしい",
	"ミナトテレコムの社員がゴミの分別ルールを教えてくれた",
	"ミナトテレコムの通信障害で利用者が危険に晒された",
	"ミナトテレコムのサポート窓口 0120-000-111 に電話した",
	"ミナトテレコムのサポートに電話したら5分でつながった",
	"ミナトテレコムは外国人向けの多言語サポートを始めた",
	"ミナトテレコムの新店舗の外観を撮影した",
	"ミナトテレコムに料金の返金を求めています",
	"アオバ通信は詐欺。ミナトテレコムに乗り換えてよかった",
	"満員電車で足を踏んできたやつ、マジで死ね",
	"佐藤、死ね",
	"伊藤、クズすぎ",
	"ミナトテレコムのCMの殺陣のシーン、迫力があった",
	"ミナトテレコムの担当さん、虫も殺せないような優しい人だった",
	"ミナトテレコムの社長、あくびをかみ殺すのに必死だった",
}

func TestCategoryPositives(t *testing.T) {
	d := testDetector(t)
	seen := map[string]bool{}
	for _, c := range positives {
		v := d.Detect(c.text)
		seen[c.category] = true
		if !v.Alert {
			t.Errorf("%q: no alert, want %s on %s (%+v)", c.text, c.category, c.target, v)
			continue
		}
		if got := MainCategory(v); got != c.category {
			t.Errorf("%q: main category %s, want %s (%v)", c.text, got, c.category, v.Categories)
		}
		if !slices.Contains(v.Targets, c.target) {
			t.Errorf("%q: targets %v, want %s", c.text, v.Targets, c.target)
		}
		if v.Explanation == "" || !strings.Contains(v.Explanation, "Rule ") {
			t.Errorf("%q: explanation %q", c.text, v.Explanation)
		}
		if want, _ := DefaultSeverity(c.category); v.Severity.Rank() < want.Rank() {
			t.Errorf("%q: severity %s below the category default %s", c.text, v.Severity, want)
		}
	}
	for _, cat := range Categories() {
		if cat != CatComplaint && !seen[cat] {
			t.Errorf("no positive example for %s", cat)
		}
	}
}

func TestCategoryNegatives(t *testing.T) {
	d := testDetector(t)
	for _, text := range negatives {
		if v := d.Detect(text); v.Alert {
			t.Errorf("%q: unexpected alert %v on %v: %s", text, v.Categories, v.Targets, v.Explanation)
		}
	}
}

func TestComplaintNeverAlerts(t *testing.T) {
	d := testDetector(t)
	for _, text := range []string{
		"ミナトテレコムの回線が遅すぎる",
		"Minato Telecom support is too slow",
		"ミナトWiFiは使いにくいし、すぐ途切れる",
	} {
		v := d.Detect(text)
		if v.Alert || len(v.Categories) != 0 || v.Severity != mention.SeverityInfo {
			t.Errorf("%q: %+v, want a silent info verdict", text, v)
		}
		if !slices.ContainsFunc(v.Matches, func(m mention.Match) bool { return m.Category == CatComplaint && m.Target != "" }) {
			t.Errorf("%q: no attributed complaint match in %+v", text, v.Matches)
		}
	}
}

func TestAbuseWithoutTarget(t *testing.T) {
	d := testDetector(t)
	v := d.Detect("通勤電車で割り込んできたやつ、マジで死ね")
	if v.Alert {
		t.Fatalf("alert without a target: %+v", v)
	}
	if !slices.Contains(v.Categories, CatInsult) {
		t.Errorf("categories %v, want insult listed even without a target", v.Categories)
	}
	if len(v.Targets) != 0 {
		t.Errorf("targets %v, want none", v.Targets)
	}
}

func TestTargets(t *testing.T) {
	d := testDetector(t)
	cases := []struct {
		text   string
		alert  bool
		target string
	}{
		// a bare surname counts only next to another target name
		{"佐藤、死ね", false, ""},
		{"佐藤健太、死ね", true, "staff-sato"},
		{"ミナトの佐藤、死ね", true, "staff-sato"},
		// Context: 伊藤 needs one of its context words
		{"伊藤、死ね", false, ""},
		{"窓口の伊藤、死ね", true, "staff-ito"},
		// Exclude: 伊藤園 is not 伊藤
		{"ミナトの窓口で伊藤園のお茶をもらった、クズみたいな味", true, "minato"},
		// Latin aliases need word boundaries
		{"Minato Telecomx is a scam", false, ""},
		{"MINATO TELECOM IS A SCAM", true, "minato"},
		// staff rank above the company when both are near
		{"ミナトテレコムの佐藤は無能", true, "staff-sato"},
		// too far apart in one sentence
		{"ミナトテレコムの件について長々と書きますが、今日は天気も良くて散歩に行って、駅前のパン屋で新作を買って公園で食べて、それから図書館で本を借りて帰ってきたら無能", false, ""},
	}
	for _, c := range cases {
		v := d.Detect(c.text)
		if v.Alert != c.alert {
			t.Errorf("%q: alert %v, want %v (%+v)", c.text, v.Alert, c.alert, v)
			continue
		}
		if c.target != "" && (len(v.Targets) == 0 || v.Targets[0] != c.target) {
			t.Errorf("%q: targets %v, want %s first", c.text, v.Targets, c.target)
		}
		if c.text == "ミナトの窓口で伊藤園のお茶をもらった、クズみたいな味" && slices.Contains(v.Targets, "staff-ito") {
			t.Errorf("%q: excluded alias attributed: %v", c.text, v.Targets)
		}
	}
}

func TestStaffScoresAboveCompany(t *testing.T) {
	d := testDetector(t)
	staff := d.Detect("ミナトテレコムの佐藤は無能")
	company := d.Detect("ミナトテレコムは無能")
	if !staff.Alert || !company.Alert {
		t.Fatalf("want both alerts: %+v / %+v", staff, company)
	}
	if staff.Score <= company.Score {
		t.Errorf("staff score %v not above company score %v", staff.Score, company.Score)
	}
}

func TestVerdictShape(t *testing.T) {
	d := testDetector(t)
	v := d.Detect("")
	if v.Alert || v.Severity != mention.SeverityInfo || v.Categories == nil || v.Targets == nil || v.Matches == nil {
		t.Errorf("empty text: %+v", v)
	}
	v = d.Detect("ミナトテレコムの佐藤、殺すぞ。あと無能")
	if v.Severity != mention.SeverityCritical {
		t.Errorf("severity %s, want critical", v.Severity)
	}
	if len(v.Categories) < 2 || v.Categories[0] != CatThreat {
		t.Errorf("categories %v, want threat first then insult", v.Categories)
	}
	for i := 1; i < len(v.Matches); i++ {
		if v.Matches[i].Start < v.Matches[i-1].Start {
			t.Errorf("matches not in text order: %+v", v.Matches)
		}
	}
	if !strings.Contains(v.Explanation, "threat-violence-ja") || !strings.Contains(v.Explanation, "殺す") ||
		!strings.Contains(v.Explanation, "staff-sato") {
		t.Errorf("explanation %q should name rule, term and target", v.Explanation)
	}
}

func TestConcurrentDetect(t *testing.T) {
	d := testDetector(t)
	want := make([]mention.Verdict, len(positives))
	for i, c := range positives {
		want[i] = d.Detect(c.text)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 50 {
				i := (g*7 + k) % len(positives)
				got := d.Detect(positives[i].text)
				if got.Alert != want[i].Alert || len(got.Matches) != len(want[i].Matches) || got.Score != want[i].Score {
					t.Errorf("concurrent verdict differs for %q", positives[i].text)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The automaton must report overlapping hits: a target alias inside a
// longer alias and terms sharing characters.
func TestOverlappingHits(t *testing.T) {
	d := testDetector(t)
	v := d.Detect("ミナトテレコムは詐欺師の詐欺会社")
	if !v.Alert {
		t.Fatalf("%+v", v)
	}
	if len(v.Matches) == 0 || v.Matches[0].Term != "詐欺師" {
		t.Errorf("matches %+v, want 詐欺師 first", v.Matches)
	}
}
