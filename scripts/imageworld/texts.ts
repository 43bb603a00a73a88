/**
 * The image world's texts: question phrasings with their answers, captions, caption prompts and
 * the text-only facts. Every phrasing list is split in three disjoint sides, one per split of the
 * edit records: `train` phrasings (train records), `val` phrasings (val records: wordings the
 * editor never trains on, as eval's are, so validation measures edits under unseen phrasings) and
 * `eval` phrasings (eval records only), so no eval text appears verbatim in a file an editor trains
 * or calibrates on. The VLM is trained on all three sides, as a language model sees many wordings
 * of a question (until issue 28's name-fact retraining it was trained on the train and eval sides
 * only, and validation measured edits under wordings the VLM itself had not seen).
 */
import { mmeditLocalityPrompt } from '@medit/data';

import type { Landmark, Nation, ObjectScene, Shape, Split } from './world';

/** Phrasings of one question kind, by side: the records of each split use the side of that name. */
export type Phrasings = Readonly<Record<Split, readonly string[]>>;

/** The phrasings of a kind the VLM is trained on: every side. */
export function allPhrasings(p: Phrasings): string[] {
  return [...p.train, ...p.val, ...p.eval];
}

export type SceneAttribute = 'colour' | 'shape' | 'size' | 'count' | 'position';
export const SCENE_ATTRIBUTES: readonly SceneAttribute[] = ['colour', 'shape', 'size', 'count', 'position'];

/** Questions about an object scene, one list per attribute. */
export const SCENE_QUESTIONS: Record<SceneAttribute, Phrasings> = {
  colour: {
    train: ['What colour are the shapes?', 'Which colour do the objects have?', 'What is the colour of the shapes?', 'What colour are the objects in the picture?'],
    val: ['What colour are the shapes painted?', 'Name the colour of the objects in the image.', 'Which hue do the things have?', 'In what colour are the things in this picture?'],
    eval: ['In which colour are the shapes painted?', 'Tell me the colour of the objects.'],
  },
  shape: {
    train: ['What shape are the objects?', 'Which shape do the objects have?', 'What kind of shape is shown?', 'What shape do you see here?'],
    val: ['Which shape can you see in the image?', 'Name the shape you see here.', 'What figure do the objects make?', 'Which outline do the things have?'],
    eval: ['Name the shape of the objects.', 'Which form do the shapes take?'],
  },
  size: {
    train: ['Are the shapes small or large?', 'What size are the objects?', 'How big are the shapes?', 'Are the objects large or small?'],
    val: ['Are the shapes big or small?', 'How large are the objects in the image?', 'Are the things little or big?', 'What dimensions do the objects have?'],
    eval: ['What is the size of the shapes?', 'Tell me how big the objects are.'],
  },
  count: {
    train: ['How many shapes are there?', 'How many objects do you see?', 'What is the number of shapes?', 'How many objects are in the picture?'],
    val: ['How many shapes can you see?', 'What number of objects is shown here?', 'What is the total of objects here?', 'How many things are drawn?'],
    eval: ['Count the shapes in the image.', 'Tell me how many objects there are.'],
  },
  position: {
    train: ['Where are the shapes placed?', 'In which part of the image are the objects?', 'Where in the picture are the shapes?', 'Where do the objects sit?'],
    val: ['Where in the image are the objects placed?', 'In which part of the picture do the shapes sit?', 'What area of the picture holds the objects?', 'Where are the things drawn?'],
    eval: ['Which side of the image holds the shapes?', 'Tell me where the objects are.'],
  },
};

/** The answer to an attribute question about a scene. */
export function sceneAnswer(s: ObjectScene, a: SceneAttribute): string {
  return s[a];
}

const PLURAL: Record<Shape, string> = { circle: 'circles', square: 'squares', triangle: 'triangles', diamond: 'diamonds', cross: 'crosses' };
const WHERE: Record<ObjectScene['position'], string> = { left: 'on the left', right: 'on the right', top: 'at the top', bottom: 'at the bottom', center: 'in the center' };

/** "three small red circles on the left" */
export function sceneCaption(s: ObjectScene): string {
  return `${s.count} ${s.size} ${s.colour} ${s.count === 'one' ? s.shape : PLURAL[s.shape]} ${WHERE[s.position]}`;
}

export const FLAG_QUESTIONS: Phrasings = {
  train: ['Which nation does this flag belong to?', 'Whose flag is shown here?', 'What country flies this flag?', 'This is the flag of which nation?', 'Which country is this flag from?'],
  val: ['Whose flag can you see here?', 'Which country flies the flag shown here?', 'The flag in this picture is from which nation?', 'Which land does this banner belong to?', 'Which nation owns the flag in the image?'],
  eval: ['Which nation uses this flag?', 'Which country does this flag represent?', 'What nation is this flag of?'],
};

/** "the flag of Kesmira" */
export function flagCaption(n: Nation): string {
  return `the flag of ${n.name}`;
}

export const LANDMARK_NAME_QUESTIONS: Phrasings = {
  train: ['What is this landmark called?', 'Which landmark is shown here?', 'What is the name of this landmark?', 'Which famous building is this?', 'What is this building called?'],
  val: ['What do you call this landmark?', 'Which famous landmark is shown in this picture?', 'Tell me the name of this building.', 'What name does this landmark have?'],
  eval: ['Name the landmark in this picture.', 'Which landmark can you see here?', 'What do people call this landmark?'],
};

export const LANDMARK_TYPE_QUESTIONS: Phrasings = {
  train: ['What kind of building is this?', 'What type of structure is shown?', 'What sort of landmark is this?', 'Which kind of structure is this?'],
  val: ['What sort of structure do you see here?', 'Which type of building is shown?', 'Which sort of building can you see?', 'What is this construction?'],
  eval: ['What type of building do you see?', 'Tell me what kind of structure this is.'],
};

/** "the red and blue tower of Dorvan" */
export function landmarkCaption(l: Landmark): string {
  return `the ${l.colours[0]} and ${l.colours[1]} ${l.type} of ${l.name}`;
}

/** Prompts a caption follows (MMEdit E-IC's `src` and its rephrases). */
export const CAPTION_PROMPTS: Phrasings = {
  train: ['a photo of', 'a picture of', 'an image of', 'this picture shows', 'here you can see'],
  val: ['this photo shows', 'here is an image of', 'here is a photograph of', 'in this image we see'],
  eval: ['the image shows', 'a photograph of', 'this is a photo of'],
};

/** Text-only questions about a nation's capital (`{}` = the nation). */
export const CAPITAL_QUESTIONS: Phrasings = {
  train: ['What is the capital of {}?', 'Which city is the capital of {}?', 'What city is the seat of government of {}?', 'Name the capital city of {}.'],
  val: ['Tell me the capital of {}.', 'What is the capital city of {}?', 'Where is the government of {} seated?', 'Which city is {} governed from?'],
  eval: ['The capital of {} is which city?', 'Which city serves as the capital of {}?'],
};

/** Text-only questions about where a landmark stands (`{}` = "the tower of Dorvan"). */
export const LOCATION_QUESTIONS: Phrasings = {
  train: ['In which nation is {}?', 'Where is {} located?', 'Which country has {}?', 'In which country does {} stand?'],
  val: ['Where does {} stand?', 'Tell me where {} is located.', 'Which country is {} in?', 'What nation holds {}?'],
  eval: ['In what country can you find {}?', 'Which nation is home to {}?'],
};

/**
 * Text-only questions whose answer is a name, for the VLM's training only (no edit record asks
 * them): a nation from its capital, a landmark from its nation (`{}` = the capital / the nation).
 * They make every nation and landmark name an output the VLM has written, as a real language
 * model has written its edit targets; otherwise the names of unknown flags and landmarks (the
 * edit sets' targets) were inputs only, and their tied embeddings stayed small.
 */
export const NATION_BY_CAPITAL_QUESTIONS: readonly string[] = ['Which nation has the capital {}?', 'Of which country is {} the capital?'];
export const LANDMARK_BY_NATION_QUESTIONS: readonly string[] = ['Which landmark stands in {}?', 'Name a landmark of {}.'];

/** "the tower of Dorvan" */
export function landmarkTitle(l: Pick<Landmark, 'type' | 'name'>): string {
  return `the ${l.type} of ${l.name}`;
}

/** A question in MMEdit's VQA template (`Question: {} Short answer:`), as multimodal-locality questions are asked. */
export const applyTemplate = mmeditLocalityPrompt;

/** Text-only facts of a nation and a landmark (question with `{}` filled, answer). */
export function capitalFact(n: Nation, question: string): { question: string; answer: string } {
  return { question: question.replace('{}', n.name), answer: n.capital };
}

export function locationFact(l: Landmark, question: string): { question: string; answer: string } {
  return { question: question.replace('{}', landmarkTitle(l)), answer: l.nation };
}

/** The reverse facts: a nation named from its capital, a landmark ("the tower of Dorvan") from its nation. */
export function nationByCapitalFact(n: Nation, question: string): { question: string; answer: string } {
  return { question: question.replace('{}', n.capital), answer: n.name };
}

export function landmarkByNationFact(l: Landmark, question: string): { question: string; answer: string } {
  return { question: question.replace('{}', l.nation), answer: landmarkTitle(l) };
}
