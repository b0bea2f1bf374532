"""The synthetic corpus of bench/dedup.py: Alpaca-style instructions with a controllable share of near-duplicates.

    corpus = build_corpus(50_000, near_dup_share=0.15)

Built deterministically and offline from instruction templates with varied slot vocabulary, optional
constraint clauses and quoted inputs, and near-duplicates (earlier instructions with a few word-level edits).
"""

from __future__ import annotations

import random


def _words(s: str) -> list[str]:
    return [w.replace("_", " ") for w in s.split()]


FORMS = _words("poem short_story haiku limerick blog_post product_description cover_letter speech tweet "
               "news_headline essay dialogue song recipe email press_release slogan riddle joke fable "
               "movie_review book_summary job_posting thank-you_note wedding_toast bedtime_story sonnet "
               "advertisement podcast_intro travel_guide FAQ lesson_plan business_proposal")
ADJS = _words("ancient modern tiny enormous quiet noisy digital rural urban tropical frozen hidden famous "
              "forgotten sustainable renewable affordable luxurious healthy spicy vegetarian haunted "
              "friendly lonely curious brave clever lazy busy remote local global medieval futuristic "
              "historical political economic scientific artistic musical athletic peaceful chaotic "
              "colorful minimalist vintage electric autonomous underwater mountainous coastal desert "
              "ambitious anxious bitter bright broken calm cheerful clumsy cozy crowded crunchy dusty "
              "elegant empty fearless fierce fragile fresh gentle gigantic glamorous gloomy golden "
              "graceful grumpy handmade hilarious humble icy innovative invisible jealous juicy "
              "legendary magical mysterious narrow nervous nostalgic organic ornate playful polite "
              "portable precious quirky rare reliable rusty salty secret shiny silent sleepy slippery "
              "smoky sparkling sticky stormy strange sunny tangy tender thoughtful tireless toxic "
              "transparent unusual vibrant virtual wealthy weird wild windy wise wooden wrinkled zealous")
NOUNS = _words("robot cat dog garden city village river ocean forest mountain library museum school "
               "hospital restaurant bakery bicycle train airport spaceship planet volcano island castle "
               "bridge factory farm market kitchen telescope microscope computer smartphone algorithm "
               "database network password election vaccine climate economy currency startup "
               "orchestra painting sculpture novel festival tournament marathon workshop laboratory "
               "satellite battery engine recipe diet habit friendship family neighbor teacher student "
               "scientist doctor nurse farmer pilot chef artist musician athlete detective wizard dragon "
               "pirate astronaut penguin elephant dolphin owl bee tree flower coffee tea chocolate pizza "
               "accountant acorn album alligator anchor apartment apron archive armchair avalanche "
               "backpack badge balcony ballet balloon bamboo bandage banjo barn basket beach beetle "
               "blanket blender blizzard bookstore bottle boulder bracelet brewery broom bucket buffalo "
               "cabin cactus calendar camel camera campfire canal candle canoe canyon carousel carpenter "
               "cathedral cavern cello chalkboard chameleon chimney cinema circus cliff clock cloud "
               "coconut comet compass concert cookie coral cottage cowboy crayon cricket crystal "
               "cucumber cupboard curtain cyclist dentist desk diamond dinosaur diploma dragonfly drum "
               "eagle earthquake echo elevator envelope eraser fence ferry fireplace firefighter "
               "fisherman flamingo flute fountain fox frog galaxy gardener gecko giraffe glacier "
               "goldfish gondola gorilla greenhouse guitar hamster harbor harp hedgehog helicopter "
               "highway hiker hive horizon hotel hurricane iceberg igloo inventor jacket jellyfish jungle "
               "kangaroo kayak kettle keyboard kite koala ladder lagoon lantern lawyer lemon lighthouse "
               "lion lizard llama locksmith magnet mailbox mango manuscript map marble mechanic meadow "
               "meteor mirror monastery moose mosquito motorcycle mushroom napkin necklace nest notebook "
               "oasis octopus orchard ostrich otter oven paddle palace pancake panda parachute parrot "
               "passport peacock pebble pelican pencil pharmacist photographer piano pigeon pillow "
               "pineapple plumber poet pond postcard potter pumpkin puppet pyramid quilt rabbit raccoon "
               "radio rainbow reef reporter rhinoceros ribbon rocket saddle sailor sandcastle scarecrow "
               "scooter seagull shark shepherd skateboard skyscraper snail snowman sofa spider squirrel "
               "stadium submarine subway suitcase sunflower surfer swamp tailor tambourine taxi tiger "
               "toaster tortoise tractor trumpet tulip tunnel turtle umbrella unicorn vase violin "
               "volunteer waiter walrus waterfall whale windmill wolf yacht zebra")
VERBS = _words("visited built painted found lost cooked designed explained watched repaired sold "
               "discovered ignored celebrated studied described measured planted rescued delivered "
               "borrowed carried chased cleaned climbed collected copied crossed decorated defended "
               "emptied entertained examined followed guarded hid imagined invented juggled launched "
               "mapped mended noticed opened ordered packed photographed polished protected questioned "
               "recorded replaced returned sketched sorted stole tested traded translated washed wrapped")
PLACES = _words("Paris Tokyo Kenya Brazil Canada Norway Egypt India Peru Mexico Iceland Vietnam Chile "
                "Morocco Greece Australia Scotland Nepal Argentina Turkey Portugal Korea Ghana Finland "
                "Cuba Jordan Mongolia Ireland Poland Thailand")
AUDIENCES = _words("children beginners teenagers retirees new_parents software_engineers small_business_owners "
                   "college_students nurses teachers tourists first-time_home_buyers gardeners runners "
                   "data_scientists investors musicians chefs immigrants remote_workers")
TONES = _words("formal casual humorous persuasive optimistic serious poetic sarcastic friendly "
               "professional enthusiastic neutral dramatic concise")
ACTIVITIES = _words("learn_a_new_language save_money_on_groceries sleep_better train_for_a_marathon "
                    "start_a_podcast grow_tomatoes_indoors reduce_screen_time write_a_resume "
                    "prepare_for_a_job_interview negotiate_a_salary learn_to_code bake_sourdough_bread "
                    "plan_a_road_trip stay_focused_while_studying make_new_friends "
                    "organize_a_small_kitchen invest_for_retirement care_for_a_puppy "
                    "improve_public_speaking reduce_food_waste meditate_every_day fix_a_leaky_faucet")
CONCEPTS = _words("weather climate virus bacteria speed velocity mass weight stocks bonds RAM storage "
                  "HTTP HTTPS TCP UDP socialism capitalism empathy sympathy affect effect metaphor simile "
                  "mitosis meiosis recursion iteration classes objects lists tuples machine_learning "
                  "statistics inflation deflation tornado hurricane renting buying")
LABELS = [("positive", "negative"), ("true", "false"), ("spam", "not spam"), ("formal", "informal"),
          ("fact", "opinion"), ("animal", "plant"), ("question", "statement"), ("easy", "hard")]
CONSTRAINTS = [
    "Use no more than {k} words.", "Include at least one example.", "Respond in a {tone} tone.",
    "Make it suitable for {aud}.", "Avoid technical jargon.", "Format the answer as a bulleted list.",
    "Explain your reasoning step by step.", "Keep it under {k} sentences.", "End with a question.",
    "Mention {place} somewhere in the text.",
]
TEMPLATES = [
    "{write} a {form} about {topic}.", "{write} a {tone} {form} about {topic} for {aud}.",
    "{write} a {form} that describes {topic}.", "{write} a {form} in which a {noun} meets a {noun2}.",
    "Explain the difference between {concept} and {concept2}.", "Explain {concept} to {aud}.",
    "Give me {k} tips on how to {activity}.", "What are the best ways to {activity}?",
    "Generate a list of {k} {adj} names for a {noun}.", "List {k} facts about {place}.",
    "Summarize the following paragraph in {k} sentences: {sentence}",
    "Classify the following sentence as {label} or {label2}: {sentence}",
    "Rewrite the sentence below to make it more {tone}: {sentence}",
    "Translate this sentence into {language}: {sentence}", "Find the grammatical error in: {sentence}",
    "Suggest a {adj} title for a {form} about {topic}.", "Describe a day in the life of a {adj} {noun}.",
    "Create a {k}-day itinerary for a trip to {place}.", "What would happen if every {noun} were {adj}?",
    "Design a {adj} logo concept for {company}, a {noun} company.", "Compare {place} and {place2} as travel destinations.",
    "Brainstorm {k} questions to ask a {noun} expert.", "Outline a {form} about {topic} for {aud}.",
    "How can a {noun} help people {activity}?", "{write} a dialogue between {name} and {name2} about {topic}.",
    "Identify the main idea of this text: {sentence}", "Give an analogy that explains {concept} using a {noun}.",
    "Propose a {adj} solution to reduce traffic in {place}.", "Write a SQL query that lists every {noun} in a table called {company}.",
    "Estimate how many {noun}s there are in {place} and explain your estimate.",
    "{name} bought {k} {noun}s for ${price} each. How much did {name} spend?",
    "Calculate the area of a rectangle that is {k} meters by {k2} meters.",
    "What happened in {place} in {year}?", "Name {k} famous people born in {year}.",
    "Reply to this customer email from {name}: {sentence}",
    "Write a Python function that returns the {k}th {adj} {noun} from a list.",
    "Convert {price} US dollars to {currency} and show the formula.",
    "Pretend you are a {adj} {noun}. Introduce yourself to {name}.",
    "Is it ethical for {company} to sell {adj} {noun}s? Argue both sides.",
    "Find the odd one out: {noun}, {noun2}, {noun3}, {noun4}.",
    "Create a {k}-question quiz about {topic}.", "Plan a {adj} birthday party for {name}, who loves {noun}s.",
    "Sort these words alphabetically: {noun}, {noun2}, {noun3}, {adj}.",
]
OPENERS = ["", "", "", "", "Please ", "Can you ", "I need you to ", "For my {noun} class, ", "As a {role}, ",
           "In under {k} words, ", "Quickly ", "Help me "]
LANGUAGES = _words("French Spanish German Italian Japanese Swahili Hindi Portuguese Dutch Korean Arabic Turkish")
CURRENCIES = _words("euros yen pounds pesos rupees francs kronor won dirhams")
ROLES = _words("teacher nurse journalist historian chef coach lawyer tour_guide librarian engineer")
_SYLLABLES = _words("ka lo mi ra ven tor el is an bri dal fen gor hal jun kes lin mor nel "
                    "pan quin ros sel tam ul vor wen xan yel zor ba ce di fo gu")


# Real instructions phrase the same request many ways; each of these words is swapped for an
# alternative half the time, so that fixed template text varies like a teacher model's wording.
SYNONYMS = {
    "write": ["compose", "draft", "pen"], "create": ["make", "build", "put together"],
    "explain": ["describe", "clarify", "walk me through"], "give": ["provide", "offer", "share"],
    "list": ["enumerate", "name", "write down"], "generate": ["produce", "come up with", "suggest"],
    "describe": ["portray", "depict", "paint a picture of"], "best": ["most effective", "smartest", "easiest"],
    "ways": ["methods", "strategies", "approaches"], "tips": ["suggestions", "pieces of advice", "ideas"],
    "facts": ["fun facts", "details", "things worth knowing"], "difference": ["distinction", "contrast"],
    "sentence": ["line", "statement"], "following": ["given", "next", "provided"],
    "question": ["query"], "questions": ["queries", "things"], "help": ["assist", "support", "allow"],
    "people": ["someone", "users", "everyone"], "famous": ["well-known", "notable", "celebrated"],
    "solution": ["plan", "idea", "approach"], "reduce": ["cut", "lower", "limit"],
    "estimate": ["guess", "approximate"], "calculate": ["compute", "work out", "find"],
    "area": ["surface area", "size"], "rectangle": ["rectangular room", "rectangular garden", "field"],
    "returns": ["gives back", "outputs", "finds"], "function": ["method", "script", "program"],
    "lists": ["returns", "selects", "shows"], "every": ["each", "all"], "table": ["dataset", "relation"],
    "trip": ["vacation", "journey", "visit"], "itinerary": ["travel plan", "schedule"],
    "day": ["morning", "week", "typical day"], "life": ["routine", "world"], "ethical": ["fair", "acceptable", "right"],
    "sell": ["market", "advertise", "offer"], "argue": ["discuss", "present"], "sides": ["viewpoints", "perspectives"],
    "convert": ["change", "translate", "turn"], "formula": ["calculation", "math", "steps"],
    "happen": ["change", "go wrong", "be different"], "compare": ["contrast", "weigh"],
    "destinations": ["spots", "places to visit", "options"], "logo": ["brand mark", "emblem", "icon"],
    "concept": ["idea", "sketch", "proposal"], "company": ["business", "brand", "startup"],
    "analogy": ["comparison", "metaphor", "simple picture"], "names": ["titles", "labels", "nicknames"],
    "expert": ["specialist", "professional", "enthusiast"], "brainstorm": ["think of", "draft", "propose"],
    "born": ["who were born", "who came into the world"], "party": ["celebration", "gathering"],
    "plan": ["organize", "design", "prepare"], "loves": ["adores", "collects", "is obsessed with"],
    "quiz": ["test", "trivia game"], "pretend": ["imagine", "suppose"], "introduce": ["present", "describe"],
}


def _paraphrase(rng: random.Random, text: str) -> str:
    """Swap some words of a template for alternatives, keeping a leading capital and trailing punctuation."""
    out = []
    for word in text.split(" "):
        core = word.rstrip(".,:?!")
        alternatives = SYNONYMS.get(core.lower())
        if alternatives and rng.random() < 0.5:
            new = rng.choice(alternatives)
            new = new[0].upper() + new[1:] if core[:1].isupper() else new
            word = new + word[len(core):]
        out.append(word)
    return " ".join(out)


def _name(rng: random.Random) -> str:
    """A made-up proper name, so names and brands widen the vocabulary as real data does."""
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _sentence(rng: random.Random) -> str:
    """A short made-up input sentence, so quoted inputs vary word by word."""
    noun, noun2, adj, adj2 = rng.choice(NOUNS), rng.choice(NOUNS), rng.choice(ADJS), rng.choice(ADJS)
    pattern = rng.randrange(4)
    if pattern == 0:
        tail = rng.choice(["", " last summer", " before the storm", f" with {rng.randint(2, 99)} friends",
                           f" because the {rng.choice(NOUNS)} was {rng.choice(ADJS)}"])
        return f"The {adj} {noun} {rng.choice(VERBS)} a {adj2} {noun2} in {rng.choice(PLACES)}{tail}."
    if pattern == 1:
        return f"{_name(rng)} said that the {noun} was {adj} and nobody {rng.choice(VERBS)} it."
    if pattern == 2:
        return f"In {rng.randint(1850, 2024)}, {_name(rng)} {rng.choice(VERBS)} the first {adj} {noun}."
    return f"My {noun} is {adj2}, but my {noun2} {rng.choice(VERBS)} {rng.randint(2, 40)} {adj} things."


def _fresh(rng: random.Random) -> str:
    """One instruction from a template with every slot filled at random."""
    label, label2 = rng.choice(LABELS)
    topic = rng.choice([f"{rng.choice(ADJS)} {rng.choice(NOUNS)}s", f"a {rng.choice(NOUNS)} in {rng.choice(PLACES)}",
                        f"the history of the {rng.choice(NOUNS)}", f"how to {rng.choice(ACTIVITIES)}",
                        f"{_name(rng)} and the {rng.choice(ADJS)} {rng.choice(NOUNS)}"])
    slots = dict(
        form=rng.choice(FORMS), topic=topic, tone=rng.choice(TONES), aud=rng.choice(AUDIENCES),
        noun=rng.choice(NOUNS), noun2=rng.choice(NOUNS), noun3=rng.choice(NOUNS), noun4=rng.choice(NOUNS),
        adj=rng.choice(ADJS), k=rng.randint(2, 12), k2=rng.randint(2, 99), year=rng.randint(1700, 2024),
        price=f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}", concept=rng.choice(CONCEPTS),
        concept2=rng.choice(CONCEPTS), activity=rng.choice(ACTIVITIES), place=rng.choice(PLACES),
        place2=rng.choice(PLACES), label=label, label2=label2, name=_name(rng), name2=_name(rng),
        company=_name(rng), language=rng.choice(LANGUAGES), currency=rng.choice(CURRENCIES),
        role=rng.choice(ROLES), write=rng.choice(["Write", "Compose", "Create", "Draft", "Produce", "Come up with"]),
        sentence=" ".join(_sentence(rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))),
    )
    opener = rng.choice(OPENERS)
    template = rng.choice(TEMPLATES)
    parts = [_paraphrase(rng, opener + (template[0].lower() + template[1:] if opener else template))]
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
        parts.append(rng.choice(CONSTRAINTS))
    if rng.random() < 0.05:  # a few long, detailed requests
        parts.extend(_sentence(rng) for _ in range(rng.randint(3, 8)))
    return " ".join(parts).format(**slots)


def _near_duplicate(rng: random.Random, previous: list[str]) -> str:
    """An earlier instruction, mostly a recent one, with one to three word-level edits."""
    window = min(len(previous), rng.choice([50, 500, len(previous)]))
    words = previous[len(previous) - 1 - rng.randrange(window)].split()
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        pos = rng.randrange(len(words))
        if op < 0.4:
            words[pos] = rng.choice(ADJS + NOUNS + ["please", "briefly", "simple", "short"])
        elif op < 0.6 and len(words) > 4:
            del words[pos]
        elif op < 0.8:
            words.insert(pos, rng.choice(["please", "also", "really", "very", "a", "the", "new"]))
        else:
            words[pos] = words[pos].upper() if rng.random() < 0.5 else words[pos] + ","
    return " ".join(words)


def build_corpus(size: int, near_dup_share: float, seed: int = 0) -> list[str]:
    """The benchmark corpus: deterministic for a given (size, share, seed)."""
    rng = random.Random(seed)
    corpus: list[str] = []
    while len(corpus) < size:
        if corpus and rng.random() < near_dup_share:
            corpus.append(_near_duplicate(rng, corpus))
        else:
            corpus.append(_fresh(rng))
    return corpus
