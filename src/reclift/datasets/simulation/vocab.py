"""Built-in vocabulary of the simulated shop: departments, nouns, synonyms, attributes.

A leaf category is ``<modifier> <noun>`` inside a subcategory (the noun's group), e.g.
``Fashion>Shoes>Running Shoes``. Synonyms feed query and keyword variants.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subcategory:
    """A noun group: display name, noun, synonyms of the noun, leaf modifiers."""

    name: str
    noun: str
    synonyms: tuple[str, ...]
    modifiers: tuple[str, ...]


@dataclass(frozen=True)
class Department:
    """A top-level department with its price level and attribute vocabularies."""

    name: str
    median_price: float
    subcategories: tuple[Subcategory, ...]
    size_name: str
    sizes: tuple[str, ...]
    materials: tuple[str, ...]
    has_colour: bool = True
    material_name: str = "material"


def _s(name: str, noun: str, synonyms: str, modifiers: str) -> Subcategory:
    return Subcategory(name, noun, tuple(synonyms.split("|")), tuple(modifiers.split("|")))


DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "Fashion",
        45.0,
        (
            _s("Shoes", "shoes", "sneakers|trainers", "running|trail|leather|canvas"),
            _s("Jackets", "jacket", "coat|parka", "rain|down|denim|bomber"),
            _s("Dresses", "dress", "gown|frock", "summer|evening|maxi|wrap"),
            _s("Shirts", "shirt", "tee|top", "linen|oxford|polo|graphic"),
            _s("Jeans", "jeans", "denim pants|trousers", "slim|skinny|bootcut|relaxed"),
            _s("Bags", "bag", "handbag|purse", "tote|shoulder|crossbody|travel"),
        ),
        "size",
        ("XS", "S", "M", "L", "XL"),
        ("cotton", "leather", "wool", "polyester", "linen"),
    ),
    Department(
        "Electronics",
        160.0,
        (
            _s("Phones", "phone", "smartphone|mobile", "android|flagship|budget|rugged"),
            _s("Laptops", "laptop", "notebook|ultrabook", "gaming|ultralight|business|student"),
            _s("Headphones", "headphones", "earphones|headset", "wireless|sport|studio|kids"),
            _s("Chargers", "charger", "power adapter|power brick", "usb-c|wireless|fast|car"),
            _s("Cameras", "camera", "cam|camcorder", "action|mirrorless|instant|security"),
            _s("Speakers", "speaker", "soundbar|boombox", "bluetooth|smart|portable|outdoor"),
        ),
        "storage",
        ("32GB", "64GB", "128GB", "256GB", "512GB"),
        ("aluminium", "plastic", "glass", "carbon"),
    ),
    Department(
        "Home",
        40.0,
        (
            _s("Lamps", "lamp", "light|lantern", "desk|floor|bedside|led"),
            _s("Sofas", "sofa", "couch|settee", "corner|leather|velvet|bed"),
            _s("Cushions", "cushion", "pillow|throw pillow", "velvet|outdoor|floor|memory foam"),
            _s("Mugs", "mug", "cup|tumbler", "ceramic|travel|enamel|glass"),
            _s("Pans", "pan", "skillet|frying pan", "nonstick|cast iron|copper|grill"),
            _s("Towels", "towel", "bath sheet|hand towel", "bath|beach|kitchen|gym"),
        ),
        "size",
        ("small", "medium", "large", "xl"),
        ("cotton", "ceramic", "steel", "wood", "velvet"),
    ),
    Department(
        "Sports",
        50.0,
        (
            _s("Balls", "ball", "football|soccer ball", "match|training|beach|indoor"),
            _s("Rackets", "racket", "racquet|bat", "tennis|badminton|squash|padel"),
            _s("Yoga", "yoga mat", "exercise mat|gym mat", "thick|travel|cork|non slip"),
            _s("Weights", "dumbbell", "weights|kettlebell", "adjustable|hex|vinyl|chrome"),
            _s("Bikes", "bike", "bicycle|cycle", "mountain|road|city|electric"),
            _s("Tents", "tent", "shelter|dome tent", "camping|pop up|family|ultralight"),
        ),
        "size",
        ("S", "M", "L", "one size"),
        ("nylon", "rubber", "steel", "foam"),
    ),
    Department(
        "Beauty",
        18.0,
        (
            _s("Shampoo", "shampoo", "hair wash|cleanser", "dry|volume|anti dandruff|repair"),
            _s("Lipstick", "lipstick", "lip colour|lip stain", "matte|glossy|nude|long lasting"),
            _s("Perfume", "perfume", "fragrance|scent", "floral|woody|citrus|musk"),
            _s("Creams", "face cream", "moisturiser|lotion", "night|day|anti aging|spf"),
            _s("Brushes", "makeup brush", "brush set|applicator", "foundation|blush|eye|kabuki"),
            _s("Nails", "nail polish", "nail varnish|lacquer", "gel|quick dry|glitter|matte"),
        ),
        "volume",
        ("30ml", "50ml", "100ml", "200ml"),
        ("organic", "vegan", "mineral", "synthetic"),
    ),
    Department(
        "Toys",
        25.0,
        (
            _s("Puzzles", "puzzle", "jigsaw|brain teaser", "1000 piece|wooden|3d|kids"),
            _s("Dolls", "doll", "figure|action figure", "fashion|baby|rag|collectible"),
            _s("Bricks", "building bricks", "blocks|construction set", "city|space|castle|tech"),
            _s("Games", "board game", "card game|party game", "strategy|family|trivia|kids"),
            _s("Plush", "plush toy", "stuffed animal|teddy", "bear|bunny|dinosaur|unicorn"),
            _s("Cars", "toy car", "model car|rc car", "remote control|die cast|racing|truck"),
        ),
        "age",
        ("3+", "6+", "8+", "12+"),
        ("wood", "plastic", "plush", "cardboard"),
    ),
    Department(
        "Garden",
        35.0,
        (
            _s("Hoses", "garden hose", "hose pipe|hose", "expandable|reel|soaker|heavy duty"),
            _s("Shovels", "shovel", "spade|trowel", "folding|steel|snow|kids"),
            _s(
                "Planters",
                "planter",
                "plant pot|flower pot",
                "terracotta|hanging|raised|self watering",
            ),
            _s("Grills", "grill", "bbq|barbecue", "charcoal|gas|electric|portable"),
            _s("Chairs", "garden chair", "patio chair|lounger", "folding|rattan|adirondack|swing"),
            _s("Lights", "solar light", "garden light|path light", "string|spot|lantern|fence"),
        ),
        "size",
        ("small", "medium", "large"),
        ("steel", "plastic", "wood", "rattan"),
    ),
    Department(
        "Books",
        14.0,
        (
            _s("Novels", "novel", "fiction|book", "crime|romance|fantasy|sci-fi"),
            _s("Cookbooks", "cookbook", "recipe book|cooking book", "vegan|baking|italian|quick"),
            _s("Kids", "children's book", "picture book|kids book", "bedtime|activity|abc|pop up"),
            _s("Biography", "biography", "memoir|life story", "sports|music|political|business"),
            _s("Travel", "travel guide", "guidebook|travel book", "city|hiking|road trip|budget"),
            _s("Comics", "comic", "graphic novel|manga", "superhero|manga|humour|classic"),
        ),
        "format",
        ("paperback", "hardcover", "ebook", "audiobook"),
        ("english", "german", "french", "spanish"),
        has_colour=False,
        material_name="language",
    ),
)

COLOURS: tuple[str, ...] = (
    "black",
    "white",
    "red",
    "blue",
    "green",
    "grey",
    "pink",
    "yellow",
    "brown",
    "navy",
)

ADJECTIVES: tuple[str, ...] = (
    "Classic",
    "Premium",
    "Essential",
    "Pro",
    "Lite",
    "Deluxe",
    "Eco",
    "Vintage",
    "Smart",
    "Ultra",
    "Everyday",
    "Signature",
)

BRAND_SYLLABLES: tuple[str, ...] = (
    "no",
    "va",
    "ri",
    "ka",
    "lu",
    "mo",
    "ter",
    "sen",
    "da",
    "vi",
    "zo",
    "bel",
    "ar",
    "on",
    "fi",
    "lex",
    "tra",
    "mi",
    "quo",
    "sol",
    "gen",
    "pix",
    "ul",
    "tek",
)

JUNK_KEYWORDS: tuple[str, ...] = (
    "best price",
    "cheap deal",
    "sale",
    "free shipping",
    "gift ideas",
    "top rated",
    "new arrivals",
    "discount",
    "buy now",
    "black friday",
    "bestseller",
    "offer",
)

AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_SHARES: tuple[float, ...] = (0.14, 0.24, 0.22, 0.18, 0.13, 0.09)
DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
DEVICE_SHARES: tuple[float, ...] = (0.58, 0.33, 0.09)
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")
REGION_SHARES: tuple[float, ...] = (0.22, 0.25, 0.17, 0.2, 0.16)
LOYALTY: tuple[str, ...] = ("none", "silver", "gold")
LOYALTY_SHARES: tuple[float, ...] = (0.62, 0.27, 0.11)
