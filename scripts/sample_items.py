"""Sample items written for TwT Studio (not taken from any benchmark).

`scripts/make_samples.py` turns them into the files under `twt_backend/resources/samples/`.
Math steps are (sentence with `{}` where the calculation goes, expression); the
answer is the value of the last expression. Choice options list the correct one
first; the generator shuffles them.
"""

from __future__ import annotations

MATH = [
    (
        "A bakery bakes 14 trays of muffins with 12 muffins on each tray. It sells 150 muffins in the morning. How many muffins are left?",
        [
            ("The bakery bakes {} muffins.", "14*12"),
            ("After the morning sales, {} muffins are left.", "168-150"),
        ],
    ),
    (
        "Priya reads 25 pages of a novel on every weekday and 40 pages on each day of the weekend. How many pages does she read in one week?",
        [
            ("On the five weekdays she reads {} pages.", "5*25"),
            ("On the two weekend days she reads {} pages.", "2*40"),
            ("In total she reads {} pages.", "125+80"),
        ],
    ),
    (
        "A school orders 9 boxes of pencils with 36 pencils in each box. The pencils are shared equally among 4 classes. How many pencils does each class get?",
        [("The school gets {} pencils.", "9*36"), ("Each class gets {} pencils.", "324/4")],
    ),
    (
        "Tom buys 3 notebooks at $4.50 each and a pen for $2.25. He pays with a $20 bill. How much change, in dollars, does he get?",
        [
            ("The notebooks cost {} dollars.", "3*4.5"),
            ("With the pen he spends {} dollars.", "13.5+2.25"),
            ("His change is {} dollars.", "20-15.75"),
        ],
    ),
    (
        "A water tank holds 1200 liters. A pump adds 40 liters per minute. How many minutes does it take to fill the empty tank to three quarters of its capacity?",
        [
            ("Three quarters of the tank is {} liters.", "1200*3/4"),
            ("Filling it takes {} minutes.", "900/40"),
        ],
    ),
    (
        "Maya has 48 stickers. She gives one third of them to her brother and then buys 15 more. How many stickers does she have now?",
        [
            ("She gives away {} stickers.", "48/3"),
            ("She keeps {} stickers.", "48-16"),
            ("After buying more she has {} stickers.", "32+15"),
        ],
    ),
    (
        "A cyclist rides at 18 kilometers per hour for 2.5 hours and then at 12 kilometers per hour for 1.5 hours. How many kilometers does she ride in total?",
        [
            ("The first part is {} km.", "18*2.5"),
            ("The second part is {} km.", "12*1.5"),
            ("Altogether she rides {} km.", "45+18"),
        ],
    ),
    (
        "A farmer has 7 rows of apple trees with 16 trees in each row. Each tree gives 45 apples, and he packs the apples into crates of 60. How many crates does he fill?",
        [
            ("He has {} trees.", "7*16"),
            ("They give {} apples.", "112*45"),
            ("He fills {} crates.", "5040/60"),
        ],
    ),
    (
        "A jacket costs $80. It is on sale for 25% off, and then a $6 coupon is taken off the sale price. What is the final price in dollars?",
        [
            ("The discount is {} dollars.", "80*0.25"),
            ("The sale price is {} dollars.", "80-20"),
            ("After the coupon the price is {} dollars.", "60-6"),
        ],
    ),
    (
        "Leo is 4 times as old as his daughter, who is 8. In how many years will Leo be exactly 3 times as old as his daughter?",
        [
            ("Leo is {} years old.", "4*8"),
            ("The age gap is {} years and never changes.", "32-8"),
            (
                "When Leo is three times her age, the gap is twice her age, so she will be {}.",
                "24/2",
            ),
            ("That happens in {} years.", "12-8"),
        ],
    ),
    (
        "A recipe uses 250 grams of flour for 10 cookies. How many grams of flour are needed for 36 cookies?",
        [("Each cookie needs {} grams.", "250/10"), ("For 36 cookies you need {} grams.", "25*36")],
    ),
    (
        "A parking garage charges $3 for the first hour and $2 for each additional hour. How many dollars does it cost to park for 7 hours?",
        [
            ("There are {} additional hours.", "7-1"),
            ("They cost {} dollars.", "6*2"),
            ("The total is {} dollars.", "3+12"),
        ],
    ),
    (
        "In a class of 30 students, 40% chose the museum for a trip, one third chose the zoo and the rest chose the aquarium. How many students chose the aquarium?",
        [
            ("The museum got {} votes.", "30*0.4"),
            ("The zoo got {} votes.", "30/3"),
            ("The aquarium got {} votes.", "30-12-10"),
        ],
    ),
    (
        "Nina saves $15 every week and already has $65. How many weeks does she need to save before she can buy a bike that costs $260?",
        [("She still needs {} dollars.", "260-65"), ("That takes {} weeks.", "195/15")],
    ),
    (
        "A train leaves at 9:15 and arrives at 13:45 on the same day. How many minutes does the trip take?",
        [
            ("From 9:15 to 13:15 is {} minutes.", "4*60"),
            ("Adding the last half hour gives {} minutes.", "240+30"),
        ],
    ),
    (
        "A rectangular garden is 12 meters long and 8 meters wide. A path 1 meter wide runs along the inside of all four sides. What area, in square meters, is not covered by the path?",
        [
            ("The uncovered part is {} meters long.", "12-2"),
            ("It is {} meters wide.", "8-2"),
            ("Its area is {} square meters.", "10*6"),
        ],
    ),
    (
        "Sam scored 78, 85 and 92 on three tests. What score does he need on the fourth test to average exactly 86 over all four?",
        [
            ("The four scores must add up to {}.", "86*4"),
            ("The first three add up to {}.", "78+85+92"),
            ("He needs {} on the fourth test.", "344-255"),
        ],
    ),
    (
        "A box of 24 chocolates costs $18. At the same price per chocolate, how many dollars do 10 chocolates cost?",
        [
            ("One chocolate costs {} dollars.", "18/24"),
            ("Ten chocolates cost {} dollars.", "0.75*10"),
        ],
    ),
    (
        "A printer prints 16 pages per minute. How many pages does it print in 2 hours and 15 minutes?",
        [("The printer runs for {} minutes.", "2*60+15"), ("It prints {} pages.", "135*16")],
    ),
    (
        "Ana has twice as many marbles as Ben, and Ben has 7 more marbles than Carl. Carl has 11 marbles. How many marbles do the three of them have together?",
        [
            ("Ben has {} marbles.", "11+7"),
            ("Ana has {} marbles.", "2*18"),
            ("Together they have {} marbles.", "11+18+36"),
        ],
    ),
    (
        "A phone plan costs $25 per month plus $0.10 for every text message beyond the first 100. In March Kim sent 340 messages. How many dollars was her March bill?",
        [
            ("She sent {} extra messages.", "340-100"),
            ("They cost {} dollars.", "240*0.1"),
            ("The bill is {} dollars.", "25+24"),
        ],
    ),
    (
        "A store receives 5 crates with 48 bottles of juice in each. 18 bottles arrive broken, and the rest are put on shelves in rows of 6. How many rows are there?",
        [
            ("The store receives {} bottles.", "5*48"),
            ("{} bottles are not broken.", "240-18"),
            ("They fill {} rows.", "222/6"),
        ],
    ),
    (
        "Oliver runs 3 laps of a 400-meter track every morning for 6 days. How many kilometers does he run in those 6 days?",
        [
            ("Each morning he runs {} meters.", "3*400"),
            ("Over 6 days he runs {} meters.", "1200*6"),
            ("That is {} kilometers.", "7200/1000"),
        ],
    ),
    (
        "A movie theater has 18 rows of 24 seats. On Friday three quarters of the seats were filled. How many seats were empty?",
        [
            ("The theater has {} seats.", "18*24"),
            ("{} seats were filled.", "432*3/4"),
            ("{} seats were empty.", "432-324"),
        ],
    ),
    (
        "Grace buys 4 packs of 6 batteries. Her remote control needs 2 batteries and each of her 3 flashlights needs 4. How many batteries are left over?",
        [
            ("She has {} batteries.", "4*6"),
            ("The flashlights need {} batteries.", "3*4"),
            ("All devices need {} batteries.", "2+12"),
            ("{} batteries are left.", "24-14"),
        ],
    ),
    (
        "A car uses 6.5 liters of fuel per 100 kilometers, and fuel costs $1.60 per liter. How many dollars does the fuel for a 450-kilometer trip cost?",
        [("The trip uses {} liters.", "450/100*6.5"), ("The fuel costs {} dollars.", "29.25*1.6")],
    ),
    (
        "A gardener plants 8 tulip bulbs in each of 15 pots. One out of every 10 bulbs does not sprout. How many tulips sprout?",
        [
            ("She plants {} bulbs.", "8*15"),
            ("{} bulbs do not sprout.", "120/10"),
            ("{} tulips sprout.", "120-12"),
        ],
    ),
    (
        "Three friends share a taxi fare of $42 plus a tip of 15% of the fare equally. How many dollars does each friend pay?",
        [
            ("The tip is {} dollars.", "42*0.15"),
            ("The total is {} dollars.", "42+6.3"),
            ("Each friend pays {} dollars.", "48.3/3"),
        ],
    ),
    (
        "A library had 1,250 books. It bought 340 new books and gave away 95 old ones. Then it lent out one fifth of the books it had. How many books were still on the shelves?",
        [
            ("The library then had {} books.", "1250+340-95"),
            ("It lent out {} books.", "1495/5"),
            ("{} books stayed on the shelves.", "1495-299"),
        ],
    ),
    (
        "Ella earns $14 per hour and works 6 hours a day, 5 days a week. She spends 30% of her weekly pay on rent. How many dollars does she have left each week?",
        [
            ("She earns {} dollars a week.", "14*6*5"),
            ("Rent takes {} dollars.", "420*0.3"),
            ("She keeps {} dollars.", "420-126"),
        ],
    ),
]

# (stem, options with the correct one first, concept, explanation)
CHOICE = [
    (
        "Where would you keep a carton of milk so that it stays fresh?",
        ["refrigerator", "pantry", "bookshelf", "garage", "mailbox"],
        "milk",
        "Milk spoils quickly at room temperature, so it is kept cold in a refrigerator.",
    ),
    (
        "What do people usually do when they feel very tired late at night?",
        ["go to sleep", "go jogging", "cook a big dinner", "paint a wall", "start a new project"],
        "tiredness",
        "Tiredness at night is the body asking for rest, so people go to sleep.",
    ),
    (
        "If you want to cross a wide river without getting wet, what would you most likely use?",
        ["bridge", "umbrella", "ladder", "shovel", "blanket"],
        "river",
        "A bridge spans the river, so you can walk or drive across and stay dry.",
    ),
    (
        "A student who wants the meaning of an unfamiliar word would look it up in a what?",
        ["dictionary", "atlas", "calendar", "cookbook", "phone book"],
        "word",
        "A dictionary lists words together with their meanings.",
    ),
    (
        "What usually happens to a houseplant that nobody waters for several weeks?",
        [
            "it wilts",
            "it grows faster",
            "it starts to bloom",
            "it changes color to blue",
            "it doubles in size",
        ],
        "houseplant",
        "Plants need water to keep their stems and leaves firm, so without it they wilt.",
    ),
    (
        "Where are you most likely to see many paintings displayed for the public?",
        ["art gallery", "bakery", "gas station", "laundromat", "dentist office"],
        "painting",
        "An art gallery exists to show artworks such as paintings to visitors.",
    ),
    (
        "Why might someone put on a heavy coat before going outside?",
        ["it is cold", "it is sunny and hot", "it is dark", "it is noisy", "it is early"],
        "coat",
        "A heavy coat keeps the body warm, which matters when the weather is cold.",
    ),
    (
        "What would you use to find your way around a city you have never visited?",
        ["map", "hammer", "toaster", "pillow", "spoon"],
        "navigation",
        "A map shows streets and places, so it helps you find your way in an unknown city.",
    ),
    (
        "When an audience cheers loudly at the end of a concert, what are they showing?",
        ["appreciation", "boredom", "confusion", "hunger", "fear"],
        "cheering",
        "Loud cheering after a performance is how people show they enjoyed it.",
    ),
    (
        "What do you normally do to a banana before eating it?",
        ["peel it", "boil it", "freeze it", "plant it", "paint it"],
        "banana",
        "A banana's skin is not usually eaten, so you peel it first.",
    ),
    (
        "Where would a sailor most likely spend a working day?",
        ["on a ship", "in a desert", "in a library", "in a coal mine", "in a bakery"],
        "sailor",
        "A sailor works on boats and ships at sea.",
    ),
    (
        "If a drinking glass falls onto a hard tile floor, what is likely to happen?",
        ["it shatters", "it bounces back up", "it melts", "it grows larger", "it floats away"],
        "glass",
        "Glass is brittle, so a hard impact usually breaks it into pieces.",
    ),
    (
        "How do people often feel after finishing a difficult task they worked hard on?",
        ["satisfied", "jealous", "confused", "bored", "panicked"],
        "accomplishment",
        "Completing hard work gives a sense of accomplishment, that is, satisfaction.",
    ),
    (
        "Where do people usually go to borrow books without paying for them?",
        ["library", "bookstore", "printing press", "post office", "warehouse"],
        "borrowing",
        "A library lends books to its members for free.",
    ),
    (
        "What might a farmer put in a field to keep birds away from the crops?",
        ["scarecrow", "lighthouse", "doorbell", "thermometer", "compass"],
        "farm",
        "A scarecrow looks like a person and frightens birds away from crops.",
    ),
    (
        "What should a person do regularly to stay healthy?",
        ["exercise", "skip meals", "stay up all night", "avoid drinking water", "sit all day"],
        "health",
        "Regular exercise keeps the heart and muscles in good shape; the other options harm health.",
    ),
    (
        "Where would you put dirty dishes after a meal until you wash them?",
        ["kitchen sink", "bed", "closet", "bookshelf", "oven"],
        "dishes",
        "Dishes are washed in the kitchen sink, so that is where they wait.",
    ),
    (
        "What is a camera mainly used for?",
        ["taking pictures", "cutting paper", "heating food", "measuring time", "cleaning floors"],
        "camera",
        "A camera records images, that is, it takes pictures.",
    ),
    (
        "If you hear thunder and see dark clouds gathering, what should you expect soon?",
        ["rain", "sunburn", "drought", "clear skies", "a heat wave"],
        "storm",
        "Thunder and dark clouds are signs of a coming storm, which usually brings rain.",
    ),
    (
        "Where does a pilot sit while flying an airplane?",
        ["cockpit", "luggage rack", "runway", "hangar", "ticket counter"],
        "pilot",
        "The controls of an airplane are in the cockpit, where the pilot sits.",
    ),
    (
        "A child who wants to build a sandcastle would most likely go to the what?",
        ["beach", "forest", "office", "attic", "cinema"],
        "sandcastle",
        "Sandcastles are built from sand, and beaches have plenty of it.",
    ),
    (
        "What is the feeling of missing your home while you are far away called?",
        ["homesickness", "excitement", "courage", "curiosity", "pride"],
        "home",
        "Homesickness is the longing for home when you are away from it.",
    ),
    (
        "What would you use at home to keep ice cream frozen?",
        ["freezer", "oven", "microwave", "kettle", "cupboard"],
        "ice cream",
        "Ice cream must stay below freezing, and a freezer keeps it that cold.",
    ),
    (
        "Why do people set an alarm clock before going to bed?",
        [
            "to wake up on time",
            "to cook breakfast",
            "to lock the door",
            "to water the plants",
            "to read faster",
        ],
        "alarm clock",
        "An alarm makes a sound at a chosen time so that the sleeper wakes up on time.",
    ),
    (
        "Where would you find many people waiting to get on trains?",
        ["station platform", "swimming pool", "hospital ward", "bakery", "barn"],
        "train",
        "Passengers wait for trains on the platform of a station.",
    ),
    (
        "What happens to an ice cube left on a table on a warm day?",
        ["it melts", "it grows", "it turns to stone", "it gets colder", "it explodes"],
        "ice",
        "Warm air heats the ice above its melting point, so it turns into water.",
    ),
    (
        "Someone who is lost in thought and not listening could be described as what?",
        ["distracted", "athletic", "generous", "punctual", "hungry"],
        "attention",
        "Being lost in thought and not paying attention is what distracted means.",
    ),
    (
        "What do you usually do with a letter you have written, before you mail it?",
        ["put it in an envelope", "burn it", "hang it on a wall", "fold it into a hat", "bury it"],
        "letter",
        "Letters are sealed in an envelope that carries the address and stamp.",
    ),
    (
        "What do bees make that people like to eat?",
        ["honey", "silk", "milk", "wool", "bread"],
        "bee",
        "Bees turn flower nectar into honey, which people eat.",
    ),
    (
        "Where do most people keep their toothbrush?",
        ["bathroom", "garage", "car", "garden shed", "office"],
        "toothbrush",
        "Teeth are brushed at the bathroom sink, so the toothbrush is kept there.",
    ),
]

# (description, reference code, three asserts, explanation)
CODE = [
    (
        "Write a function to return the sum of the squares of the integers from 1 to n.",
        "def sum_of_squares(n):\n    return sum(i * i for i in range(1, n + 1))",
        [
            "assert sum_of_squares(1) == 1",
            "assert sum_of_squares(3) == 14",
            "assert sum_of_squares(10) == 385",
        ],
        "square every integer from 1 to n and add the squares up",
    ),
    (
        "Write a function to count the vowels in a string, ignoring case.",
        "def count_vowels(text):\n    return sum(1 for ch in text.lower() if ch in 'aeiou')",
        [
            "assert count_vowels('hello') == 2",
            "assert count_vowels('SKY') == 0",
            "assert count_vowels('Education') == 5",
        ],
        "lower-case the string and count the characters that are one of a, e, i, o, u",
    ),
    (
        "Write a function to reverse the order of the words in a sentence.",
        "def reverse_words(sentence):\n    return ' '.join(reversed(sentence.split()))",
        [
            "assert reverse_words('one two three') == 'three two one'",
            "assert reverse_words('hello') == 'hello'",
            "assert reverse_words('a b') == 'b a'",
        ],
        "split the sentence into words, reverse the list and join it back with single spaces",
    ),
    (
        "Write a function to check whether a string is a palindrome, ignoring case and any characters that are not letters or digits.",
        "def is_palindrome(text):\n    cleaned = [ch.lower() for ch in text if ch.isalnum()]\n    return cleaned == cleaned[::-1]",
        [
            "assert is_palindrome('Never odd or even') == True",
            "assert is_palindrome('abc') == False",
            "assert is_palindrome('No lemon, no melon') == True",
        ],
        "keep only letters and digits in lower case and compare the result with its reverse",
    ),
    (
        "Write a function to find the second largest distinct number in a list.",
        "def second_largest(numbers):\n    distinct = sorted(set(numbers))\n    return distinct[-2]",
        [
            "assert second_largest([4, 1, 7, 3]) == 4",
            "assert second_largest([5, 5, 9, 9, 2]) == 5",
            "assert second_largest([-1, -3, -2]) == -2",
        ],
        "remove duplicates with a set, sort the distinct values and take the one before the last",
    ),
    (
        "Write a function to flatten a list of lists into a single list, keeping the order of the items.",
        "def flatten(nested):\n    return [item for inner in nested for item in inner]",
        [
            "assert flatten([[1, 2], [3], [4, 5]]) == [1, 2, 3, 4, 5]",
            "assert flatten([]) == []",
            "assert flatten([['a'], [], ['b', 'c']]) == ['a', 'b', 'c']",
        ],
        "walk through each inner list in order and collect its items into one new list",
    ),
    (
        "Write a function to count how many times each character appears in a string and return the counts as a dictionary.",
        "def char_frequency(text):\n    counts = {}\n    for ch in text:\n        counts[ch] = counts.get(ch, 0) + 1\n    return counts",
        [
            "assert char_frequency('aab') == {'a': 2, 'b': 1}",
            "assert char_frequency('') == {}",
            "assert char_frequency('xyzx') == {'x': 2, 'y': 1, 'z': 1}",
        ],
        "go through the characters and increase a per-character counter stored in a dictionary",
    ),
    (
        "Write a function to compute the greatest common divisor of two positive integers.",
        "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a",
        ["assert gcd(12, 18) == 6", "assert gcd(17, 5) == 1", "assert gcd(100, 25) == 25"],
        "use Euclid's algorithm: replace (a, b) with (b, a mod b) until b becomes zero",
    ),
    (
        "Write a function to convert a temperature from degrees Celsius to degrees Fahrenheit.",
        "def celsius_to_fahrenheit(celsius):\n    return celsius * 9 / 5 + 32",
        [
            "assert celsius_to_fahrenheit(0) == 32",
            "assert celsius_to_fahrenheit(100) == 212",
            "assert celsius_to_fahrenheit(-40) == -40",
        ],
        "multiply by 9/5 and add 32",
    ),
    (
        "Write a function to merge two sorted lists into one sorted list.",
        "def merge_sorted(first, second):\n    merged, i, j = [], 0, 0\n    while i < len(first) and j < len(second):\n        if first[i] <= second[j]:\n            merged.append(first[i])\n            i += 1\n        else:\n            merged.append(second[j])\n            j += 1\n    return merged + first[i:] + second[j:]",
        [
            "assert merge_sorted([1, 4, 6], [2, 3, 7]) == [1, 2, 3, 4, 6, 7]",
            "assert merge_sorted([], [1, 2]) == [1, 2]",
            "assert merge_sorted([5], [5]) == [5, 5]",
        ],
        "walk both lists with two indexes, always taking the smaller head, then append whatever remains",
    ),
    (
        "Write a function to return the running totals of a list of numbers.",
        "def running_total(numbers):\n    totals, current = [], 0\n    for number in numbers:\n        current += number\n        totals.append(current)\n    return totals",
        [
            "assert running_total([1, 2, 3]) == [1, 3, 6]",
            "assert running_total([]) == []",
            "assert running_total([5, -5, 10]) == [5, 0, 10]",
        ],
        "keep a running sum and record it after adding each number",
    ),
    (
        "Write a function to split a list into chunks of a given size; the last chunk may be shorter.",
        "def chunk(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]",
        [
            "assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]",
            "assert chunk([], 3) == []",
            "assert chunk([1, 2, 3], 3) == [[1, 2, 3]]",
        ],
        "take slices of the given size starting at every multiple of that size",
    ),
    (
        "Write a function to capitalize the first letter of every word in a sentence and lower-case the rest.",
        "def capitalize_words(sentence):\n    return ' '.join(word[:1].upper() + word[1:].lower() for word in sentence.split(' '))",
        [
            "assert capitalize_words('hello world') == 'Hello World'",
            "assert capitalize_words('pYTHON is FUN') == 'Python Is Fun'",
            "assert capitalize_words('a') == 'A'",
        ],
        "split on spaces, upper-case the first letter of each word, lower-case the rest and join again",
    ),
    (
        "Write a function to return the sum of the digits of a non-negative integer.",
        "def digit_sum(n):\n    return sum(int(d) for d in str(n))",
        ["assert digit_sum(0) == 0", "assert digit_sum(1234) == 10", "assert digit_sum(909) == 18"],
        "turn the number into its decimal digits and add them",
    ),
    (
        "Write a function to remove duplicate items from a list while keeping the first occurrence of each in order.",
        "def remove_duplicates(items):\n    seen, result = set(), []\n    for item in items:\n        if item not in seen:\n            seen.add(item)\n            result.append(item)\n    return result",
        [
            "assert remove_duplicates([3, 1, 3, 2, 1]) == [3, 1, 2]",
            "assert remove_duplicates([]) == []",
            "assert remove_duplicates(['a', 'a']) == ['a']",
        ],
        "remember the items already seen in a set and keep an item only the first time it appears",
    ),
    (
        "Write a function to return the difference between the largest and smallest numbers in a non-empty list.",
        "def value_range(numbers):\n    return max(numbers) - min(numbers)",
        [
            "assert value_range([3, 9, 1]) == 8",
            "assert value_range([5]) == 0",
            "assert value_range([-2, 4]) == 6",
        ],
        "subtract the minimum of the list from its maximum",
    ),
    (
        "Write a function to count the words in a string, where words are separated by any amount of whitespace.",
        "def count_words(text):\n    return len(text.split())",
        [
            "assert count_words('the quick  brown fox') == 4",
            "assert count_words('') == 0",
            "assert count_words('  hi  ') == 1",
        ],
        "split on whitespace without an argument, which drops empty pieces, and count the pieces",
    ),
    (
        "Write a function to check whether a year is a leap year in the Gregorian calendar.",
        "def is_leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
        [
            "assert is_leap_year(2024) == True",
            "assert is_leap_year(1900) == False",
            "assert is_leap_year(2000) == True",
        ],
        "a year is a leap year when it divides by 4, except century years, which must also divide by 400",
    ),
    (
        "Write a function that returns 'Fizz' for multiples of 3, 'Buzz' for multiples of 5, 'FizzBuzz' for multiples of both, and the number as a string otherwise.",
        "def fizzbuzz_word(n):\n    if n % 15 == 0:\n        return 'FizzBuzz'\n    if n % 3 == 0:\n        return 'Fizz'\n    if n % 5 == 0:\n        return 'Buzz'\n    return str(n)",
        [
            "assert fizzbuzz_word(9) == 'Fizz'",
            "assert fizzbuzz_word(30) == 'FizzBuzz'",
            "assert fizzbuzz_word(7) == '7'",
        ],
        "test divisibility by 15 first, then by 3 and by 5, and fall back to the number as text",
    ),
    (
        "Write a function to rotate a list to the left by k positions.",
        "def rotate_left(items, k):\n    if not items:\n        return []\n    k %= len(items)\n    return items[k:] + items[:k]",
        [
            "assert rotate_left([1, 2, 3, 4], 1) == [2, 3, 4, 1]",
            "assert rotate_left([1, 2, 3], 5) == [3, 1, 2]",
            "assert rotate_left([], 2) == []",
        ],
        "reduce k modulo the length and join the slice after position k with the slice before it",
    ),
    (
        "Write a function to find the longest common prefix of a list of strings.",
        "def common_prefix(words):\n    if not words:\n        return ''\n    prefix = words[0]\n    for word in words[1:]:\n        while not word.startswith(prefix):\n            prefix = prefix[:-1]\n    return prefix",
        [
            "assert common_prefix(['flower', 'flow', 'flight']) == 'fl'",
            "assert common_prefix(['dog', 'car']) == ''",
            "assert common_prefix(['same', 'same']) == 'same'",
        ],
        "start from the first word and shorten the prefix until every other word starts with it",
    ),
    (
        "Write a function to count the upper-case letters in a string.",
        "def count_uppercase(text):\n    return sum(1 for ch in text if ch.isupper())",
        [
            "assert count_uppercase('Hello World') == 2",
            "assert count_uppercase('abc') == 0",
            "assert count_uppercase('ABC def G') == 4",
        ],
        "count the characters for which isupper() is true",
    ),
    (
        "Write a function to return the product of all numbers in a list; the product of an empty list is 1.",
        "def product_of_list(numbers):\n    result = 1\n    for number in numbers:\n        result *= number\n    return result",
        [
            "assert product_of_list([2, 3, 4]) == 24",
            "assert product_of_list([]) == 1",
            "assert product_of_list([5, 0, 7]) == 0",
        ],
        "start from 1 and multiply by every number in turn",
    ),
    (
        "Write a function to return the binary representation of a non-negative integer as a string without any prefix.",
        "def binary_string(n):\n    return format(n, 'b')",
        [
            "assert binary_string(5) == '101'",
            "assert binary_string(0) == '0'",
            "assert binary_string(16) == '10000'",
        ],
        "format the integer with the 'b' format code, which gives binary digits without the 0b prefix",
    ),
    (
        "Write a function to check whether two strings are anagrams of each other, ignoring case and spaces.",
        "def are_anagrams(first, second):\n    def letters(text):\n        return sorted(text.replace(' ', '').lower())\n    return letters(first) == letters(second)",
        [
            "assert are_anagrams('Listen', 'Silent') == True",
            "assert are_anagrams('dormitory', 'dirty room') == True",
            "assert are_anagrams('abc', 'abd') == False",
        ],
        "remove spaces, lower-case both strings and compare their sorted characters",
    ),
    (
        "Write a function to return the n-th Fibonacci number, where fib(0) = 0 and fib(1) = 1.",
        "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        ["assert fibonacci(0) == 0", "assert fibonacci(1) == 1", "assert fibonacci(10) == 55"],
        "iterate n times, keeping the last two values and shifting them forward each time",
    ),
    (
        "Write a function to return the sums of each pair of neighbouring numbers in a list.",
        "def pairwise_sums(numbers):\n    return [a + b for a, b in zip(numbers, numbers[1:])]",
        [
            "assert pairwise_sums([1, 2, 3, 4]) == [3, 5, 7]",
            "assert pairwise_sums([5]) == []",
            "assert pairwise_sums([-1, 1]) == [0]",
        ],
        "zip the list with itself shifted by one and add each pair",
    ),
    (
        "Write a function to return the index of the first occurrence of a value in a list, or -1 if it is not there.",
        "def find_index(items, value):\n    for index, item in enumerate(items):\n        if item == value:\n            return index\n    return -1",
        [
            "assert find_index([4, 2, 4], 4) == 0",
            "assert find_index([1, 2, 3], 3) == 2",
            "assert find_index([], 1) == -1",
        ],
        "scan the list with enumerate and return the first matching position, or -1 after the loop",
    ),
    (
        "Write a function to turn a full name into initials, each followed by a dot, such as 'Ada Lovelace' -> 'A.L.'.",
        "def initials(name):\n    return ''.join(part[0].upper() + '.' for part in name.split())",
        [
            "assert initials('Ada Lovelace') == 'A.L.'",
            "assert initials('grace brewster hopper') == 'G.B.H.'",
            "assert initials('Linus') == 'L.'",
        ],
        "take the first letter of each word, upper-case it and add a dot",
    ),
    (
        "Write a function to count the even numbers in a list.",
        "def count_even(numbers):\n    return sum(1 for number in numbers if number % 2 == 0)",
        [
            "assert count_even([1, 2, 3, 4]) == 2",
            "assert count_even([]) == 0",
            "assert count_even([-2, 0, 7]) == 2",
        ],
        "count the numbers whose remainder modulo 2 is zero",
    ),
]
